package patch

import (
	"errors"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
)

// Cases from RFC 6902 appendix A plus the errors a client may send.
func TestApply(t *testing.T) {
	tests := []struct {
		name, doc, patch string
		want             string // result JSON when wantErr is empty
		wantErr          string
	}{
		{"add object member", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux"}]`, `{"baz":"qux","foo":"bar"}`, ""},
		{"add array element", `{"foo":["bar","baz"]}`, `[{"op":"add","path":"/foo/1","value":"qux"}]`, `{"foo":["bar","qux","baz"]}`, ""},
		{"add at array end index", `{"foo":[1]}`, `[{"op":"add","path":"/foo/1","value":2}]`, `{"foo":[1,2]}`, ""},
		{"append with dash", `{"foo":[1]}`, `[{"op":"add","path":"/foo/-","value":2}]`, `{"foo":[1,2]}`, ""},
		{"add replaces existing member", `{"foo":1}`, `[{"op":"add","path":"/foo","value":[2]}]`, `{"foo":[2]}`, ""},
		{"add at root", `{"foo":1}`, `[{"op":"add","path":"","value":3}]`, `3`, ""},
		{"add null value", `{}`, `[{"op":"add","path":"/n","value":null}]`, `{"n":null}`, ""},
		{"remove member", `{"baz":"qux","foo":"bar"}`, `[{"op":"remove","path":"/baz"}]`, `{"foo":"bar"}`, ""},
		{"remove element", `{"foo":["bar","qux","baz"]}`, `[{"op":"remove","path":"/foo/1"}]`, `{"foo":["bar","baz"]}`, ""},
		{"replace", `{"baz":"qux","foo":"bar"}`, `[{"op":"replace","path":"/baz","value":"boo"}]`, `{"baz":"boo","foo":"bar"}`, ""},
		{"replace root with scalar", `{"a":1}`, `[{"op":"replace","path":"","value":null}]`, `null`, ""},
		{"replace scalar root", `null`, `[{"op":"replace","path":"","value":{"x":1}}]`, `{"x":1}`, ""},
		{"move", `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`,
			`[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`,
			`{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`, ""},
		{"move array element", `{"foo":["all","grass","cows","eat"]}`, `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`,
			`{"foo":["all","cows","eat","grass"]}`, ""},
		{"move onto itself", `{"a":1}`, `[{"op":"move","from":"/a","path":"/a"}]`, `{"a":1}`, ""},
		{"copy", `{"a":{"b":[1]}}`, `[{"op":"copy","from":"/a","path":"/c"},{"op":"add","path":"/c/b/-","value":2}]`,
			`{"a":{"b":[1]},"c":{"b":[1,2]}}`, ""},
		{"test passes", `{"baz":"qux","foo":["a",2,"c"]}`,
			`[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`,
			`{"baz":"qux","foo":["a",2,"c"]}`, ""},
		{"test numbers by value", `{"n":1}`, `[{"op":"test","path":"/n","value":1.0}]`, `{"n":1}`, ""},
		{"escaped tokens", `{"/":{"~":1}}`, `[{"op":"replace","path":"/~1/~0","value":2}]`, `{"/":{"~":2}}`, ""},
		{"big numbers keep precision", `{"n":18446744073709551615}`, `[{"op":"add","path":"/m","value":12345678901234567890}]`,
			`{"m":12345678901234567890,"n":18446744073709551615}`, ""},
		{"empty patch", `{"a":1}`, `[]`, `{"a":1}`, ""},

		{"test fails", `{"baz":"qux"}`, `[{"op":"test","path":"/baz","value":"bar"}]`, "", `operation 0 (test "/baz"): test failed`},
		{"add to missing parent", `{"foo":"bar"}`, `[{"op":"add","path":"/baz/bat","value":"qux"}]`, "", `"/baz" does not exist`},
		{"add past array end", `{"foo":[1]}`, `[{"op":"add","path":"/foo/2","value":2}]`, "", `array index "2" out of range 0..1`},
		{"negative index refused", `{"foo":[1,2]}`, `[{"op":"remove","path":"/foo/-1"}]`, "", `array index "-1"`},
		{"leading zero refused", `{"foo":[1,2]}`, `[{"op":"replace","path":"/foo/01","value":0}]`, "", `array index "01"`},
		{"dash only at the end", `{"foo":[[1]]}`, `[{"op":"add","path":"/foo/-/0","value":0}]`, "", `"/foo/-" does not exist`},
		{"remove missing", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, "", `operation 0 (remove "/b"): path does not exist`},
		{"remove root", `{"a":1}`, `[{"op":"remove","path":""}]`, "", `cannot remove the whole document`},
		{"replace missing", `{"a":1}`, `[{"op":"replace","path":"/b","value":1}]`, "", `path does not exist`},
		{"into a scalar", `{"a":1}`, `[{"op":"add","path":"/a/b","value":1}]`, "", `parent is not an object or array`},
		{"missing value", `{}`, `[{"op":"add","path":"/a"}]`, "", `missing "value"`},
		{"missing op", `{}`, `[{"path":"/a","value":1}]`, "", `missing "op"`},
		{"unknown op", `{}`, `[{"op":"merge","path":"/a","value":1}]`, "", `unknown op "merge"`},
		{"bad pointer", `{}`, `[{"op":"add","path":"a","value":1}]`, "", `must be empty or start with "/"`},
		{"bad escape", `{}`, `[{"op":"add","path":"/a~x","value":1}]`, "", `token "a~x"`},
		{"move into own child", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a/b/c"}]`, "", `cannot move "/a" into its own child`},
		{"copy missing from", `{}`, `[{"op":"copy","from":"/x","path":"/y"}]`, "", `from "/x" does not exist`},
		{"second op fails", `{}`, `[{"op":"add","path":"/a","value":1},{"op":"remove","path":"/b"}]`, "", `operation 1 (remove "/b")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodePatch([]byte(tt.patch))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ApplyJSON([]byte(tt.doc), p)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("applied to %s, want error containing %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				if !errors.Is(err, errdefs.ErrInvalidRequest) {
					t.Fatalf("error %q does not wrap ErrInvalidRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// Apply must leave its input alone: the store keeps old trees as snapshots.
func TestApplyDoesNotModifyInput(t *testing.T) {
	const docJSON = `{"a":{"b":[1,{"c":2}],"d":{"e":3}},"f":[[1]]}`
	doc := mustDecode(t, docJSON)
	p, err := DecodePatch([]byte(`[
		{"op":"replace","path":"/a/b/1/c","value":9},
		{"op":"add","path":"/a/d/x","value":1},
		{"op":"remove","path":"/a/d/e"},
		{"op":"add","path":"/f/0/-","value":2},
		{"op":"move","from":"/a/b","path":"/g"},
		{"op":"copy","from":"/g","path":"/h"},
		{"op":"add","path":"/h/0","value":0}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Apply(doc, p)
	if err != nil {
		t.Fatal(err)
	}
	if s := mustJSON(t, doc); s != docJSON {
		t.Fatalf("input changed:\n%s\nwas\n%s", s, docJSON)
	}
	want := `{"a":{"d":{"x":1}},"f":[[1,2]],"g":[1,{"c":9}],"h":[0,1,{"c":9}]}`
	if s := mustJSON(t, got); s != want {
		t.Fatalf("got %s\nwant %s", s, want)
	}
}

func TestDecodeRefusesTrailingData(t *testing.T) {
	for _, in := range []string{`{} {}`, `1 2`, `{"a":1`, ``, `nul`} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q) accepted", in)
		}
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`1`, `1.0`, true},
		{`1e2`, `100`, true},
		{`1`, `2`, false},
		{`"1"`, `1`, false},
		{`null`, `null`, true},
		{`null`, `false`, false},
		{`[1,2]`, `[1,2]`, true},
		{`[1,2]`, `[2,1]`, false},
		{`{"a":1,"b":[true]}`, `{"b":[true],"a":1.00}`, true},
		{`{"a":1}`, `{"a":1,"b":null}`, false},
		{`{}`, `[]`, false},
	}
	for _, tt := range tests {
		if got := Equal(mustDecode(t, tt.a), mustDecode(t, tt.b)); got != tt.want {
			t.Errorf("Equal(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
