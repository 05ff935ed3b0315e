package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	cfg := Config{"rpc": map[string]any{"user": "u", "port": 8332.0}, "users": []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}}, "odd key": 1.0}
	for _, tc := range []struct {
		sel   string
		multi bool
		want  any
		err   string
	}{
		{"$.rpc.user", false, "u", ""},
		{"$['rpc'].port", false, 8332.0, ""},
		{"$['odd key']", false, 1.0, ""},
		{"$.users[*].name", true, []any{"a", "b"}, ""},
		{"$.users[*].name", false, "a", ""},
		{"$.users[1].name", false, "b", ""},
		{"$.users[9].name", false, nil, ""},
		{"$.missing", true, []any{}, ""},
		{"$.rpc.*", true, []any{8332.0, "u"}, ""},
		{"rpc.user", false, nil, "starting with $"},
		{"$..x", false, nil, "empty key"},
		{"$[x]", false, nil, "want [N]"},
		{"$['x", false, nil, "missing ']"},
	} {
		got, err := Select(cfg, tc.sel, tc.multi)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.sel, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %#v %v, want %#v", tc.sel, got, err, tc.want)
		}
	}
}

func TestFillPointers(t *testing.T) {
	spec, err := ParseSpec([]byte(`
addr: {type: pointer, name: A, subtype: package, package-id: dep, target: lan-address, interface: main}
nested:
  type: object
  name: N
  spec:
    user: {type: pointer, name: U, subtype: package, package-id: dep, target: config, selector: "$.rpc.user"}
backends:
  type: list
  subtype: object
  name: B
  default: []
  spec:
    spec:
      cert: {type: pointer, name: C, subtype: system, target: certificate}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{"addr": "evil.example", "nested": map[string]any{"user": "sent by the client"}, "backends": []any{map[string]any{"cert": "x"}}}
	err = spec.FillPointers(cfg, func(v *ValueSpec) (any, error) {
		return v.Target + ":" + v.Interface + v.Selector, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{"addr": "lan-address:main", "nested": map[string]any{"user": "config:$.rpc.user"}, "backends": []any{map[string]any{"cert": "certificate:"}}}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("filled %v", cfg)
	}
	if _, err := ParseSpec([]byte(`a: {type: pointer, name: A, subtype: package, package-id: d, target: config, selector: "rpc"}`)); err == nil || !strings.Contains(err.Error(), "a.selector") {
		t.Fatalf("a bad selector: %v", err)
	}
}
