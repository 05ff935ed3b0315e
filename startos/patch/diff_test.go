package patch

import (
	"testing"

	"github.com/startos-go/startos/startos/model"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"equal", `{"a":[1,{"b":2}]}`, `{"a":[1,{"b":2}]}`, `[]`},
		{"numbers equal by text", `{"n":18446744073709551615}`, `{"n":18446744073709551615}`, `[]`},
		{"add member", `{"a":1}`, `{"a":1,"b":{"c":[]}}`, `[{"op":"add","path":"/b","value":{"c":[]}}]`},
		{"remove member", `{"a":1,"b":2}`, `{"a":1}`, `[{"op":"remove","path":"/b"}]`},
		{"replace scalar deep", `{"s":{"x":{"y":true}}}`, `{"s":{"x":{"y":false}}}`, `[{"op":"replace","path":"/s/x/y","value":false}]`},
		{"replace with null", `{"a":{"b":1}}`, `{"a":null}`, `[{"op":"replace","path":"/a","value":null}]`},
		{"type change", `{"a":[1]}`, `{"a":{"0":1}}`, `[{"op":"replace","path":"/a","value":{"0":1}}]`},
		{"escaped keys", `{"a/b":1,"m~n":1}`, `{"a/b":2}`, `[{"op":"replace","path":"/a~1b","value":2},{"op":"remove","path":"/m~0n"}]`},
		{"array grows", `[1,2]`, `[1,2,3,4]`, `[{"op":"add","path":"/-","value":3},{"op":"add","path":"/-","value":4}]`},
		{"array shrinks", `[1,2,3,4]`, `[1,9]`, `[{"op":"remove","path":"/2"},{"op":"remove","path":"/2"},{"op":"replace","path":"/1","value":9}]`},
		{"root type change", `{"a":1}`, `[1]`, `[{"op":"replace","path":"","value":[1]}]`},
		{"root scalar change", `1`, `2`, `[{"op":"replace","path":"","value":2}]`},
		{"root object changes stay small", `{"public":{"a":1},"private":{"k":"secret"}}`, `{"public":{"a":2},"private":{"k":"secret"}}`,
			`[{"op":"replace","path":"/public/a","value":2}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DiffJSON([]byte(tt.old), []byte(tt.new))
			if err != nil {
				t.Fatal(err)
			}
			if got := mustJSON(t, p); got != tt.want {
				t.Fatalf("diff\n got %s\nwant %s", got, tt.want)
			}
			applied, err := ApplyJSON([]byte(tt.old), p)
			if err != nil {
				t.Fatalf("applying the diff: %v", err)
			}
			if !Equal(mustDecode(t, string(applied)), mustDecode(t, tt.new)) {
				t.Fatalf("applying the diff gave %s, want %s", applied, tt.new)
			}
		})
	}
}

// For random documents and random edits, applying the emitted patch to the
// old document gives the new one, and the patch holds only add, remove and
// replace.
func TestDiffApplyProperty(t *testing.T) {
	const cases = 5000
	g := newGen(1)
	for i := range cases {
		old := g.value(5)
		new := g.edit(old)
		p, err := Diff(old, new)
		if err != nil {
			t.Fatalf("case %d: diff: %v", i, err)
		}
		for _, op := range p {
			switch op.Op {
			case model.OpAdd, model.OpRemove, model.OpReplace:
			default:
				t.Fatalf("case %d: diff emitted %q", i, op.Op)
			}
			if op.Path == "" && op.Op != model.OpReplace {
				t.Fatalf("case %d: %s at the root", i, op.Op)
			}
		}
		got, err := Apply(old, p)
		if err != nil {
			t.Fatalf("case %d: apply: %v\nold %s\nnew %s\npatch %s", i, err, mustJSON(t, old), mustJSON(t, new), mustJSON(t, p))
		}
		if !Equal(got, new) {
			t.Fatalf("case %d: apply(old, diff) != new\nold %s\nnew %s\ngot %s\npatch %s", i, mustJSON(t, old), mustJSON(t, new), mustJSON(t, got), mustJSON(t, p))
		}
		// The wire form round-trips too.
		wire, err := DecodePatch([]byte(mustJSON(t, p)))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got2, err := ApplyJSON([]byte(mustJSON(t, old)), wire)
		if err != nil || !Equal(mustDecode(t, string(got2)), new) {
			t.Fatalf("case %d: wire round trip: %v", i, err)
		}
	}
}
