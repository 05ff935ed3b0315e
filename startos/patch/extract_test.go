package patch

import (
	"encoding/json"
	"testing"
)

func TestExtract(t *testing.T) {
	const doc = ` { "public" : {"ui": {"a\"b": [1, {"x": "]}\\"}, null], "k/~": true},
		"n": -1.5e3}, "private": {"secret": "s"}, "e\u0301": {"o": {}} , "arr": [ [], {} ]} `
	tests := []struct {
		ptr   string
		want  string
		found bool
	}{
		{"", doc[1 : len(doc)-1], true},
		{"/public/n", `-1.5e3`, true},
		{"/public/ui/a\"b/1", `{"x": "]}\\"}`, true},
		{"/public/ui/a\"b/1/x", `"]}\\"`, true},
		{"/public/ui/a\"b/2", `null`, true},
		{"/public/ui/k~1~0", `true`, true},
		{"/e\u0301/o", `{}`, true},
		{"/arr/0", `[]`, true},
		{"/arr/1", `{}`, true},
		{"/private", `{"secret": "s"}`, true},
		{"/public/ui/a\"b/3", ``, false},
		{"/public/ui/a\"b/-", ``, false},
		{"/public/ui/a\"b/01", ``, false},
		{"/public/missing", ``, false},
		{"/public/n/x", ``, false},
		{"/arr/1/x", ``, false},
		{"/arr/0/0", ``, false},
	}
	for _, tt := range tests {
		ptr, err := ParsePointer(tt.ptr)
		if err != nil {
			t.Fatal(err)
		}
		got, found, err := Extract([]byte(doc), ptr)
		if err != nil {
			t.Fatalf("Extract(%q): %v", tt.ptr, err)
		}
		if found != tt.found || string(got) != tt.want {
			t.Errorf("Extract(%q) = %q, %v; want %q, %v", tt.ptr, got, found, tt.want, tt.found)
		}
	}
}

func TestExtractMalformed(t *testing.T) {
	for _, doc := range []string{`{"a":`, `{"a" 1}`, `{"a":"x`, `[1,`, `{"b":1 "a":2}`, `{"a":{`} {
		if got, found, err := Extract([]byte(doc), Pointer{"a"}); err == nil && found {
			// A wrong slice is allowed for bad input, a panic is not; make sure
			// the obviously broken cases are reported.
			t.Errorf("Extract(%q) = %q without error", doc, got)
		}
	}
}

// Extract agrees with decoding the document and walking it.
func TestExtractProperty(t *testing.T) {
	g := newGen(3)
	for i := range 3000 {
		doc := g.value(5)
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		ps := paths(doc, Pointer{}, nil)
		for range 3 {
			ptr := ps[g.r.IntN(len(ps))]
			if g.r.IntN(4) == 0 {
				ptr = ptr.Append(genKeys[g.r.IntN(len(genKeys))])
			}
			want, wantOK := Get(doc, ptr)
			got, ok, err := Extract(raw, ptr)
			if err != nil {
				t.Fatalf("case %d: Extract(%q): %v", i, ptr, err)
			}
			if ok != wantOK {
				t.Fatalf("case %d: Extract(%q) found=%v, Get found=%v in %s", i, ptr, ok, wantOK, raw)
			}
			if ok && !Equal(mustDecode(t, string(got)), want) {
				t.Fatalf("case %d: Extract(%q) = %s, want %s", i, ptr, got, mustJSON(t, want))
			}
		}
	}
}
