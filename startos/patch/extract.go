package patch

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/startos-go/startos/startos/errdefs"
)

// Extract returns the bytes of the value at ptr inside the JSON document raw,
// without decoding the rest: a dump of part of a large document costs one
// scan. It reports false when the value does not exist. raw is trusted to be
// valid JSON (a document this process encoded); malformed input gives an
// error or a wrong slice, never a panic. The result aliases raw.
func Extract(raw []byte, ptr Pointer) (json.RawMessage, bool, error) {
	s := scanner{b: raw}
	s.space()
	for _, tok := range ptr {
		if s.i >= len(s.b) {
			return nil, false, s.errorf("unexpected end")
		}
		var found bool
		var err error
		switch s.b[s.i] {
		case '{':
			found, err = s.seekKey(tok)
		case '[':
			i, ok := arrayIndex(tok)
			if !ok {
				return nil, false, nil
			}
			found, err = s.seekIndex(i)
		default:
			return nil, false, nil
		}
		if err != nil || !found {
			return nil, false, err
		}
	}
	start := s.i
	if err := s.skipValue(); err != nil {
		return nil, false, err
	}
	return json.RawMessage(s.b[start:s.i]), true, nil
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("scanning JSON at byte %d: %s: %w", s.i, fmt.Sprintf(format, args...), errdefs.ErrInvalidRequest)
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) expect(c byte) error {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != c {
		return s.errorf("expected %q", c)
	}
	s.i++
	return nil
}

// seekKey moves from the '{' of an object to the value of key.
func (s *scanner) seekKey(key string) (bool, error) {
	s.i++ // '{'
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		return false, nil
	}
	for {
		s.space()
		k, err := s.readString()
		if err != nil {
			return false, err
		}
		if err := s.expect(':'); err != nil {
			return false, err
		}
		s.space()
		if k == key {
			return true, nil
		}
		if err := s.skipValue(); err != nil {
			return false, err
		}
		s.space()
		if s.i >= len(s.b) {
			return false, s.errorf("unterminated object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			return false, nil
		default:
			return false, s.errorf("expected ',' or '}'")
		}
	}
}

// seekIndex moves from the '[' of an array to element n.
func (s *scanner) seekIndex(n int) (bool, error) {
	s.i++ // '['
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		return false, nil
	}
	for i := 0; ; i++ {
		s.space()
		if i == n {
			return true, nil
		}
		if err := s.skipValue(); err != nil {
			return false, err
		}
		s.space()
		if s.i >= len(s.b) {
			return false, s.errorf("unterminated array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			return false, nil
		default:
			return false, s.errorf("expected ',' or ']'")
		}
	}
}

// readString reads a string at s.i and returns it unescaped.
func (s *scanner) readString() (string, error) {
	start := s.i
	escaped, err := s.skipString()
	if err != nil {
		return "", err
	}
	if !escaped {
		return string(s.b[start+1 : s.i-1]), nil
	}
	var str string
	if err := json.Unmarshal(s.b[start:s.i], &str); err != nil {
		return "", s.errorf("bad string: %v", err)
	}
	return str, nil
}

// skipString moves past the string at s.i and reports whether it held
// escapes.
func (s *scanner) skipString() (bool, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false, s.errorf("expected a string")
	}
	s.i++
	escaped := false
	for {
		j := bytes.IndexAny(s.b[s.i:], "\"\\")
		if j < 0 {
			s.i = len(s.b)
			return false, s.errorf("unterminated string")
		}
		s.i += j
		if s.b[s.i] == '"' {
			s.i++
			return escaped, nil
		}
		escaped = true
		s.i += 2 // the backslash and the character it escapes
		if s.i > len(s.b) {
			s.i = len(s.b)
			return false, s.errorf("unterminated string")
		}
	}
}

// skipValue moves past the value at s.i.
func (s *scanner) skipValue() error {
	if s.i >= len(s.b) {
		return s.errorf("expected a value")
	}
	switch s.b[s.i] {
	case '"':
		_, err := s.skipString()
		return err
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, err := s.skipString(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return s.errorf("unterminated object or array")
	default:
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				if s.i == start {
					return s.errorf("expected a value")
				}
				return nil
			}
			s.i++
		}
		if s.i == start {
			return s.errorf("expected a value")
		}
		return nil
	}
}
