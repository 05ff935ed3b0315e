package patch

import (
	"testing"
)

func TestScope(t *testing.T) {
	tests := []struct {
		name, ptr, patch string
		want             string // scoped patch; "resync" when Scope must ask for one
	}{
		{"outside dropped", "/public",
			`[{"op":"replace","path":"/private/passwordHash","value":"x"}]`, `[]`},
		{"sibling with common prefix dropped", "/public/packageData/btc",
			`[{"op":"add","path":"/public/packageData/btcpay","value":{}}]`, `[]`},
		{"inside re-rooted", "/public",
			`[{"op":"replace","path":"/public/packageData/bitcoind/statusInfo/desired/main","value":"running"}]`,
			`[{"op":"replace","path":"/packageData/bitcoind/statusInfo/desired/main","value":"running"}]`},
		{"inside keeps op", "/public/ui",
			`[{"op":"add","path":"/public/ui/theme","value":"dark"},{"op":"remove","path":"/public/ui/old"}]`,
			`[{"op":"add","path":"/theme","value":"dark"},{"op":"remove","path":"/old"}]`},
		{"escaped tokens re-rooted", "/public/a~1b",
			`[{"op":"add","path":"/public/a~1b/m~0n","value":1}]`, `[{"op":"add","path":"/m~0n","value":1}]`},
		{"scoped root added", "/public/packageData/btc",
			`[{"op":"add","path":"/public/packageData/btc","value":{"s":1}}]`,
			`[{"op":"replace","path":"","value":{"s":1}}]`},
		{"scoped root replaced", "/public/serverInfo/name",
			`[{"op":"replace","path":"/public/serverInfo/name","value":"box"}]`,
			`[{"op":"replace","path":"","value":"box"}]`},
		{"scoped root removed", "/public/packageData/btc",
			`[{"op":"remove","path":"/public/packageData/btc"}]`,
			`[{"op":"replace","path":"","value":null}]`},
		{"ancestor replaced", "/public/packageData/btc/statusInfo",
			`[{"op":"replace","path":"/public/packageData","value":{"btc":{"statusInfo":{"desired":"x"}},"lnd":{}}}]`,
			`[{"op":"replace","path":"","value":{"desired":"x"}}]`},
		{"ancestor added", "/public/packageData/btc/statusInfo/desired",
			`[{"op":"add","path":"/public/packageData/btc","value":{"statusInfo":{"desired":{"main":"stopped"}}}}]`,
			`[{"op":"replace","path":"","value":{"main":"stopped"}}]`},
		{"ancestor replaced without the scoped value", "/public/packageData/btc",
			`[{"op":"replace","path":"/public/packageData","value":{"lnd":{}}}]`,
			`[{"op":"replace","path":"","value":null}]`},
		{"ancestor replaced by a scalar", "/public/ui/a",
			`[{"op":"replace","path":"/public/ui","value":7}]`,
			`[{"op":"replace","path":"","value":null}]`},
		{"ancestor removed", "/public/packageData/btc/statusInfo",
			`[{"op":"remove","path":"/public/packageData/btc"}]`,
			`[{"op":"replace","path":"","value":null}]`},
		{"whole document replaced", "/public/serverInfo",
			`[{"op":"replace","path":"","value":{"public":{"serverInfo":{"id":"x"}},"private":{"k":1}}}]`,
			`[{"op":"replace","path":"","value":{"id":"x"}}]`},
		{"ancestor through array element", "/a/1/x",
			`[{"op":"replace","path":"/a/1","value":{"x":[true]}}]`,
			`[{"op":"replace","path":"","value":[true]}]`},
		{"insert at ptr's array slot puts the new value there", "/a/1/x",
			`[{"op":"add","path":"/a/1","value":{"x":3}}]`,
			`[{"op":"replace","path":"","value":3}]`},
		{"sequence keeps order", "/p",
			`[{"op":"remove","path":"/p"},{"op":"add","path":"/p","value":{}},{"op":"add","path":"/p/k","value":1},{"op":"replace","path":"/q","value":1}]`,
			`[{"op":"replace","path":"","value":null},{"op":"replace","path":"","value":{}},{"op":"add","path":"/k","value":1}]`},
		{"append inside re-rooted", "/p",
			`[{"op":"add","path":"/p/list/-","value":1}]`, `[{"op":"add","path":"/list/-","value":1}]`},
		{"test dropped", "/p", `[{"op":"test","path":"/p/a","value":1}]`, `[]`},
		{"later array element unaffected", "/a/1/x",
			`[{"op":"remove","path":"/a/2"},{"op":"add","path":"/a/3","value":0}]`, `[]`},
		{"scoped root is empty pointer", "",
			`[{"op":"add","path":"/a","value":1},{"op":"remove","path":""}]`,
			`[{"op":"add","path":"/a","value":1},{"op":"replace","path":"","value":null}]`},

		{"earlier array element removed shifts", "/a/2/x", `[{"op":"remove","path":"/a/0"}]`, "resync"},
		{"array element at ptr removed shifts", "/a/2/x", `[{"op":"remove","path":"/a/2"}]`, "resync"},
		{"insert before shifts", "/a/2", `[{"op":"add","path":"/a/1","value":0}]`, "resync"},
		{"append may land on ptr", "/a/2", `[{"op":"add","path":"/a/-","value":0}]`, "resync"},
		{"move out of scope", "/p", `[{"op":"move","from":"/p/x","path":"/q"}]`, "resync"},
		{"copy into scope", "/p", `[{"op":"copy","from":"/q","path":"/p/x"}]`, "resync"},
		{"unrelated move dropped", "/p", `[{"op":"move","from":"/q","path":"/r"}]`, `[]`},
		{"bad path", "/p", `[{"op":"add","path":"p","value":1}]`, "resync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ptr, err := ParsePointer(tt.ptr)
			if err != nil {
				t.Fatal(err)
			}
			p, err := DecodePatch([]byte(tt.patch))
			if err != nil {
				t.Fatal(err)
			}
			got, resync := Scope(p, ptr)
			if tt.want == "resync" {
				if !resync {
					t.Fatalf("got %s, want resync", mustJSON(t, got))
				}
				return
			}
			if resync {
				t.Fatal("unexpected resync")
			}
			if s := mustJSON(t, got); s != tt.want {
				t.Fatalf("scoped\n got %s\nwant %s", s, tt.want)
			}
		})
	}
}

// For random documents, edits and pointers, applying the scoped patch to the
// old value at the pointer gives the new value there (null standing for "not
// there"), or Scope asks for a resync.
func TestScopeProperty(t *testing.T) {
	const cases = 3000
	g := newGen(2)
	resyncs := 0
	for i := range cases {
		old := g.value(5)
		new := g.edit(old)
		p, err := Diff(old, new)
		if err != nil {
			t.Fatal(err)
		}
		// Watch paths that exist before or after, and their children that
		// exist in neither.
		ps := append(paths(old, Pointer{}, nil), paths(new, Pointer{}, nil)...)
		for j := range 4 {
			ptr := ps[g.r.IntN(len(ps))]
			if j == 3 {
				ptr = ptr.Append("zz")
			}
			scoped, resync := Scope(p, ptr)
			if resync {
				resyncs++
				if scoped, err = Resync(new, ptr); err != nil {
					t.Fatal(err)
				}
			}
			before, ok := Get(old, ptr)
			if !ok {
				before = nil
			}
			after, ok := Get(new, ptr)
			if !ok {
				after = nil
			}
			got, err := Apply(before, scoped)
			if err != nil {
				t.Fatalf("case %d ptr %q: apply scoped: %v\nold %s\nnew %s\npatch %s\nscoped %s",
					i, ptr, err, mustJSON(t, old), mustJSON(t, new), mustJSON(t, p), mustJSON(t, scoped))
			}
			if !Equal(got, after) {
				t.Fatalf("case %d ptr %q: got %s want %s\nold %s\nnew %s\npatch %s\nscoped %s",
					i, ptr, mustJSON(t, got), mustJSON(t, after), mustJSON(t, old), mustJSON(t, new), mustJSON(t, p), mustJSON(t, scoped))
			}
		}
	}
	t.Logf("%d of %d scopes needed a resync", resyncs, cases*4)
	if resyncs > cases*4/2 {
		t.Errorf("%d of %d scopes needed a resync; the patch rules should cover most", resyncs, cases*4)
	}
}

func TestResyncMissingIsNull(t *testing.T) {
	p, err := Resync(mustDecode(t, `{"a":{"b":1}}`), Pointer{"a", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if s := mustJSON(t, p); s != `[{"op":"replace","path":"","value":null}]` {
		t.Fatalf("got %s", s)
	}
	p, _ = Resync(mustDecode(t, `{"a":{"b":1}}`), Pointer{"a"})
	if s := mustJSON(t, p); s != `[{"op":"replace","path":"","value":{"b":1}}]` {
		t.Fatalf("got %s", s)
	}
}
