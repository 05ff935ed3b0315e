package patch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/startos-go/startos/startos/errdefs"
)

// Decode parses one JSON value, keeping numbers exact (json.Number).
func Decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w: %w", err, errdefs.ErrInvalidRequest)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding JSON: unexpected data after the value: %w", errdefs.ErrInvalidRequest)
	}
	return v, nil
}

// Get returns the value at ptr in doc and whether it exists.
func Get(doc any, ptr Pointer) (any, bool) {
	v := doc
	for _, tok := range ptr {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, ok := arrayIndex(tok)
			if !ok || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// Equal reports whether a and b are the same JSON value. Numbers compare by
// value, so 1, 1.0 and 1e0 are equal.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		return ok && numbersEqual(x, y)
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !Equal(xv, yv) {
				return false
			}
		}
		return true
	default:
		return false
	}
}

func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	// big.Float keeps huge exponents cheap (big.Rat would expand them).
	x, _, errx := big.ParseFloat(string(a), 10, 1024, big.ToNearestEven)
	y, _, erry := big.ParseFloat(string(b), 10, 1024, big.ToNearestEven)
	return errx == nil && erry == nil && x.Cmp(y) == 0
}

// clone deep-copies a decoded value.
func clone(v any) any {
	switch c := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, e := range c {
			m[k] = clone(e)
		}
		return m
	case []any:
		s := make([]any, len(c))
		for i, e := range c {
			s[i] = clone(e)
		}
		return s
	default:
		return v
	}
}
