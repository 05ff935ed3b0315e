// Package jsonobj reads the members of a JSON object that is already known
// to be valid (json.Valid), without decoding their values: the envelope of a
// JSON-RPC message is split in one pass, and each value is decoded once, by
// whoever needs it, into its own type.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Members walks the members of a valid JSON object.
type Members struct {
	data []byte
	pos  int
}

// Walk starts at the object obj, which must be valid JSON (json.Valid) and
// begin with '{' (after any whitespace). The values Next returns are
// sub-slices of obj.
func Walk(obj []byte) Members {
	m := Members{data: obj}
	m.skipSpace()
	m.pos++ // '{'
	return m
}

// Next returns the next member: its key as written (quoted, escapes and
// all, see Key and KeyIs) and its value, without surrounding whitespace.
func (m *Members) Next() (key, value []byte, ok bool) {
	m.skipSpace()
	if m.pos >= len(m.data) || m.data[m.pos] == '}' {
		return nil, nil, false
	}
	if m.data[m.pos] == ',' {
		m.pos++
		m.skipSpace()
	}
	start := m.pos
	m.skipString()
	key = m.data[start:m.pos]
	m.skipSpace()
	m.pos++ // ':'
	m.skipSpace()
	start = m.pos
	m.skipValue()
	return key, m.data[start:m.pos], true
}

func (m *Members) skipSpace() {
	for m.pos < len(m.data) {
		switch m.data[m.pos] {
		case ' ', '\t', '\r', '\n':
			m.pos++
		default:
			return
		}
	}
}

// skipString moves past the string starting at pos.
func (m *Members) skipString() {
	m.pos++ // opening quote
	for m.pos < len(m.data) {
		switch m.data[m.pos] {
		case '\\':
			m.pos += 2
		case '"':
			m.pos++
			return
		default:
			m.pos++
		}
	}
}

// skipValue moves past the value starting at pos.
func (m *Members) skipValue() {
	switch m.data[m.pos] {
	case '"':
		m.skipString()
	case '{', '[':
		depth := 0
		for m.pos < len(m.data) {
			switch m.data[m.pos] {
			case '"':
				m.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					m.pos++
					return
				}
			}
			m.pos++
		}
	default: // number, true, false, null
		for m.pos < len(m.data) {
			switch m.data[m.pos] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return
			}
			m.pos++
		}
	}
}

// Key is the key as encoding/json reads it: unescaped, with invalid UTF-8
// replaced.
func Key(raw []byte) string {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(raw, &s) // valid, by Walk's contract
	return s
}

// KeyIs reports whether the raw key names field name as encoding/json
// matches a key to a struct field without a case-sensitive option: equal
// under Unicode case folding.
func KeyIs(raw []byte, name string) bool {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return bytes.EqualFold(inner, []byte(name))
	}
	return strings.EqualFold(Key(raw), name)
}

// String is the JSON string value raw decoded, and whether it was a string.
func String(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}
