// Package patch holds the JSON machinery of the state document: RFC 6901
// pointers, RFC 6902 diff and apply over decoded JSON values, and the StartOS
// rules that re-root a patch for a subscriber watching one part of the
// document. It is pure (no storage) so clients link it too.
//
// Decoded JSON values are what encoding/json produces with UseNumber:
// map[string]any, []any, string, json.Number, bool and nil. Decode makes them.
package patch

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
)

// Pointer is a parsed RFC 6901 JSON Pointer: its reference tokens, unescaped.
// The empty pointer refers to the whole document.
type Pointer []string

// ParsePointer parses s. It must be empty or start with "/", and "~" may only
// appear as "~0" or "~1".
func ParsePointer(s string) (Pointer, error) {
	if s == "" {
		return Pointer{}, nil
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("json pointer %q must be empty or start with \"/\": %w", s, errdefs.ErrInvalidRequest)
	}
	raw := strings.Split(s[1:], "/")
	p := make(Pointer, len(raw))
	for i, tok := range raw {
		t, err := UnescapeToken(tok)
		if err != nil {
			return nil, fmt.Errorf("json pointer %q: %w", s, err)
		}
		p[i] = t
	}
	return p, nil
}

// UnescapeToken decodes one reference token ("~1" is "/", "~0" is "~").
func UnescapeToken(tok string) (string, error) {
	if !strings.Contains(tok, "~") {
		return tok, nil
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '~' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(tok) || (tok[i+1] != '0' && tok[i+1] != '1') {
			return "", fmt.Errorf("token %q: \"~\" must be followed by 0 or 1: %w", tok, errdefs.ErrInvalidRequest)
		}
		if tok[i+1] == '0' {
			b.WriteByte('~')
		} else {
			b.WriteByte('/')
		}
		i++
	}
	return b.String(), nil
}

var tokenEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// EscapeToken encodes one reference token for use in a pointer string.
func EscapeToken(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return tokenEscaper.Replace(tok)
}

// String formats p as an RFC 6901 string.
func (p Pointer) String() string {
	if len(p) == 0 {
		return ""
	}
	var b strings.Builder
	for _, tok := range p {
		b.WriteByte('/')
		b.WriteString(EscapeToken(tok))
	}
	return b.String()
}

// HasPrefix reports whether prefix is p or one of its ancestors.
func (p Pointer) HasPrefix(prefix Pointer) bool {
	if len(prefix) > len(p) {
		return false
	}
	for i, tok := range prefix {
		if p[i] != tok {
			return false
		}
	}
	return true
}

// Append returns a new pointer: p followed by tokens.
func (p Pointer) Append(tokens ...string) Pointer {
	q := make(Pointer, 0, len(p)+len(tokens))
	q = append(q, p...)
	return append(q, tokens...)
}

// arrayIndex parses tok as an RFC 6901 array index: "0" or a number without
// leading zeros. It reports false for anything else, "-" included.
func arrayIndex(tok string) (int, bool) {
	if tok == "" || len(tok) > 9 || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(tok)
	return n, err == nil
}
