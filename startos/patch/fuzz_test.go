package patch

import (
	"encoding/json"
	"testing"
)

// Seeds live in testdata/fuzz/<Name>/ as well as here.

func FuzzParsePointer(f *testing.F) {
	for _, s := range []string{"", "/", "/a/b", "/a~1b/m~0n", "/~2", "a", "//", "/0/-/01", "/\u00fc/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePointer(s)
		if err != nil {
			return
		}
		// A valid pointer formats back to the same text, and its tokens
		// re-parse to the same pointer.
		if got := p.String(); got != s {
			t.Fatalf("ParsePointer(%q).String() = %q", s, got)
		}
		q, err := ParsePointer(p.String())
		if err != nil || len(q) != len(p) {
			t.Fatalf("re-parse of %q: %v", s, err)
		}
		for i := range p {
			if q[i] != p[i] {
				t.Fatalf("re-parse of %q differs at token %d", s, i)
			}
		}
	})
}

func FuzzApplyPatch(f *testing.F) {
	f.Add(`{"a":[1,2,{"b":null}]}`, `[{"op":"add","path":"/a/1","value":{"c":"d"}}]`)
	f.Add(`{"foo":{"bar":"baz","waldo":"fred"}}`, `[{"op":"move","from":"/foo/waldo","path":"/qux"}]`)
	f.Add(`[1,2,3]`, `[{"op":"remove","path":"/1"},{"op":"add","path":"/-","value":[]}]`)
	f.Add(`{"a":1}`, `[{"op":"copy","from":"/a","path":"/b"},{"op":"test","path":"/b","value":1.0}]`)
	f.Add(`{"~":{"/":0}}`, `[{"op":"replace","path":"/~0/~1","value":18446744073709551616}]`)
	f.Add(`null`, `[{"op":"replace","path":"","value":{}}]`)
	f.Fuzz(func(t *testing.T, docJSON, patchJSON string) {
		doc, err := Decode([]byte(docJSON))
		if err != nil {
			return
		}
		p, err := DecodePatch([]byte(patchJSON))
		if err != nil {
			return
		}
		before, _ := json.Marshal(doc)
		got, err := Apply(doc, p)
		after, _ := json.Marshal(doc)
		if string(before) != string(after) {
			t.Fatalf("Apply changed its input: %s -> %s", before, after)
		}
		if err != nil {
			return
		}
		raw, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("result does not encode: %v", err)
		}
		// Whatever the patch did, the diff back from the input reproduces it.
		d, err := Diff(doc, got)
		if err != nil {
			t.Fatalf("diff: %v", err)
		}
		again, err := Apply(doc, d)
		if err != nil || !Equal(again, got) {
			t.Fatalf("apply(diff) = %v, %v; want %s", again, err, raw)
		}
	})
}

func FuzzExtract(f *testing.F) {
	f.Add(`{"a":{"b":[1,"x",{"c":null}]}}`, "/a/b/2/c")
	f.Add(`{"a\"":"\\"}`, "/a\"")
	f.Add(`[[],{}]`, "/1")
	f.Fuzz(func(t *testing.T, docJSON, ptrText string) {
		ptr, err := ParsePointer(ptrText)
		if err != nil {
			return
		}
		Extract([]byte(docJSON), ptr) // never panics, even on bad input
		doc, err := Decode([]byte(docJSON))
		if err != nil {
			return
		}
		// On a document as this process writes it (no duplicate keys), Extract
		// agrees with decoding and walking.
		canonical, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		got, found, err := Extract(canonical, ptr)
		if err != nil {
			t.Fatalf("Extract(%q) on valid JSON: %v", ptrText, err)
		}
		want, ok := Get(doc, ptr)
		if found != ok {
			t.Fatalf("Extract found=%v, Get found=%v", found, ok)
		}
		if found {
			v, err := Decode(got)
			if err != nil || !Equal(v, want) {
				t.Fatalf("Extract = %q (%v), want %v", got, err, want)
			}
		}
	})
}
