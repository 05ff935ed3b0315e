package patch

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
)

// Random JSON documents and edits for the property tests. Keys come from a
// small alphabet (with the characters pointers must escape and numeric keys
// that look like array indices) so that edits collide with existing paths.

var genKeys = []string{"a", "b", "c", "0", "1", "12", "-", "", "~", "/", "a/b", "m~n", "ü"}

type gen struct{ r *rand.Rand }

func newGen(seed uint64) gen { return gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g gen) scalar() any {
	switch g.r.IntN(8) {
	case 0:
		return nil
	case 1:
		return g.r.IntN(2) == 0
	case 2:
		return json.Number(strconv.Itoa(g.r.IntN(100) - 50))
	case 3:
		return json.Number(strconv.FormatUint(g.r.Uint64(), 10)) // beyond float64 precision
	case 4:
		return json.Number(strconv.FormatFloat(g.r.NormFloat64(), 'g', -1, 64))
	case 5:
		return ""
	default:
		return genKeys[g.r.IntN(len(genKeys))] + strconv.Itoa(g.r.IntN(5)) + "\"\\\n"[:g.r.IntN(4)]
	}
}

func (g gen) value(depth int) any {
	if depth <= 0 || g.r.IntN(3) == 0 {
		return g.scalar()
	}
	if g.r.IntN(3) == 0 {
		n := g.r.IntN(5)
		s := make([]any, n)
		for i := range s {
			s[i] = g.value(depth - 1)
		}
		return s
	}
	n := g.r.IntN(6)
	m := make(map[string]any, n)
	for range n {
		m[genKeys[g.r.IntN(len(genKeys))]] = g.value(depth - 1)
	}
	return m
}

// paths lists every path in v, the root included.
func paths(v any, at Pointer, out []Pointer) []Pointer {
	out = append(out, at)
	switch c := v.(type) {
	case map[string]any:
		for k, e := range c {
			out = paths(e, at.Append(k), out)
		}
	case []any:
		for i, e := range c {
			out = paths(e, at.Append(strconv.Itoa(i)), out)
		}
	}
	return out
}

// edit returns a changed deep copy of v: a few random sets, deletes,
// inserts and type changes at random paths.
func (g gen) edit(v any) any {
	v = clone(v)
	for range 1 + g.r.IntN(4) {
		ps := paths(v, Pointer{}, nil)
		p := ps[g.r.IntN(len(ps))]
		if len(p) == 0 {
			if g.r.IntN(8) == 0 {
				v = g.value(3)
			}
			continue
		}
		parent, _ := Get(v, p[:len(p)-1])
		last := p[len(p)-1]
		switch c := parent.(type) {
		case map[string]any:
			switch g.r.IntN(3) {
			case 0:
				delete(c, last)
			case 1:
				c[last] = g.value(2)
			default:
				c[genKeys[g.r.IntN(len(genKeys))]] = g.value(2)
			}
		case []any:
			i, _ := strconv.Atoi(last)
			s := []any{}
			switch g.r.IntN(3) {
			case 0:
				s = append(append(s, c[:i]...), c[i+1:]...)
			case 1:
				s = append(append(append(s, c[:i]...), g.value(2)), c[i:]...)
			default:
				s = append(s, c...)
				s[i] = g.value(2)
			}
			v = setAt(v, p[:len(p)-1], s)
		}
	}
	return v
}

// setAt replaces the value at p (which exists) in place and returns the root.
func setAt(root any, p Pointer, val any) any {
	if len(p) == 0 {
		return val
	}
	parent, _ := Get(root, p[:len(p)-1])
	switch c := parent.(type) {
	case map[string]any:
		c[p[len(p)-1]] = val
	case []any:
		i, _ := strconv.Atoi(p[len(p)-1])
		c[i] = val
	}
	return root
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustDecode(t testing.TB, s string) any {
	t.Helper()
	v, err := Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}
