package config

import (
	"encoding/json"
	"os"
	"testing"
)

func FuzzParseSpec(f *testing.F) {
	if b, err := os.ReadFile("testdata/every-type.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`a: {type: string, name: A, nullable: false, default: {charset: "a-c,x", len: 3}}`))
	f.Add([]byte(`a: {type: list, subtype: union, name: A, spec: {tag: {id: t, name: T}, variants: {x: {}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec(data)
		if err != nil {
			return
		}
		// A valid spec re-parses from its JSON, and its defaults are
		// generated without panicking; validating them never panics.
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseSpec(b); err != nil {
			t.Fatalf("the JSON form of a valid spec does not parse: %v\n%s", err, b)
		}
		if cfg, err := s.Defaults(); err == nil {
			_ = s.Validate(cfg)
			_, _ = s.CommentedYAML(cfg)
		}
	})
}

func FuzzParseValue(f *testing.F) {
	f.Add([]byte("greeting: hello\nport: 8080\nusers: [{name: a, admin: true}]\n"))
	f.Add([]byte(`{"backend": {"type": "external", "url": "x"}}`))
	f.Add([]byte("a: &x 1\nb: *x"))
	spec, err := os.ReadFile("testdata/every-type.yaml")
	if err != nil {
		f.Fatal(err)
	}
	s, err := ParseSpec(spec)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseValue(data)
		if err != nil {
			return
		}
		_ = s.Validate(c)
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("a parsed value does not encode as JSON: %v", err)
		}
		_, _ = ParseProperties(data)
	})
}

// FuzzParseRules: a config_rules.yaml that parses can be checked and
// applied to any config without panicking.
func FuzzParseRules(f *testing.F) {
	f.Add([]byte(bitcoindRules))
	f.Add([]byte(`- {rule: "#a.b + 1 >= 2 ^ 3 AND 'c.*.d = \"x\"", description: d}`))
	f.Add([]byte(`- {rule: "users.[all(u => u.x?)]?", description: d, suggestions: [{DELETE: "users.[0]"}, {PUSH: {to: users, value: 1}}]}`))
	cfgs := []Config{{}, {"a": map[string]any{"b": "3"}, "users": []any{map[string]any{"x": true}, 2.0}, "c": map[string]any{"k": map[string]any{"d": "x"}}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRules(data)
		if err != nil {
			return
		}
		for _, c := range cfgs {
			_ = r.Check(c)
			// A later rule's suggestion may break an earlier rule (as in
			// StartOS), so only the absence of panics is checked.
			_, _ = r.AutoConfigure(c)
		}
	})
}
