package config

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
)

func everyType(t *testing.T) *Spec {
	t.Helper()
	b, err := os.ReadFile("testdata/every-type.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSpec(b)
	if err != nil {
		t.Fatalf("every-type spec: %v", err)
	}
	return s
}

func TestSpecKeepsOrderAndRoundTrips(t *testing.T) {
	s := everyType(t)
	want := "greeting password nickname port ratio enabled color tags primes levels users advanced backend peers dep-address"
	if got := strings.Join(s.Keys, " "); got != want {
		t.Fatalf("keys %q, want %q", got, want)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"greeting":{"type":"string"`) {
		t.Fatalf("JSON does not keep the order: %.80s", b)
	}
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("the JSON form does not parse back: %v", err)
	}
	if strings.Join(back.Keys, " ") != want {
		t.Fatalf("round trip keys %v", back.Keys)
	}
	if back.Fields["password"].Default.(*Entropy).Len != 22 {
		t.Fatalf("entropy default lost: %#v", back.Fields["password"].Default)
	}
}

func TestSpecErrorsNameThePath(t *testing.T) {
	cases := []struct{ name, spec, path, msg string }{
		{"no type", `a: {name: A}`, "a.type", "required"},
		{"unknown type", `a: {type: text, name: A}`, "a.type", `unknown type "text"`},
		{"no name", `a: {type: boolean, default: true}`, "a.name", "required"},
		{"unknown key", `a: {type: boolean, name: A, default: true, colour: red}`, "a.colour", "unknown key"},
		{"boolean without default", `a: {type: boolean, name: A}`, "a.default", "required"},
		{"bad pattern", `a: {type: string, name: A, nullable: false, pattern: "(", pattern-description: x}`, "a.pattern", "invalid regular expression"},
		{"pattern without description", `a: {type: string, name: A, nullable: false, pattern: "x"}`, "a.pattern-description", "required with a pattern"},
		{"default breaks pattern", `a: {type: string, name: A, nullable: false, pattern: "^x$", pattern-description: x, default: y}`, "a.default", "does not match"},
		{"entropy len", `a: {type: string, name: A, nullable: false, default: {len: 0}}`, "a.default.len", "want 1 to"},
		{"entropy charset", `a: {type: string, name: A, nullable: false, default: {charset: "z-a", len: 4}}`, "a.default.charset", "invalid charset"},
		{"bad range", `a: {type: number, name: A, nullable: false, range: "1..2"}`, "a.range", "invalid range"},
		{"empty range", `a: {type: number, name: A, nullable: false, range: "(1,1)"}`, "a.range", "holds no number"},
		{"default out of range", `a: {type: number, name: A, nullable: false, range: "[0,10]", default: 11}`, "a.default", "outside the range"},
		{"default not integral", `a: {type: number, name: A, nullable: false, integral: true, default: 1.5}`, "a.default", "not a whole number"},
		{"enum default", `a: {type: enum, name: A, values: [x, y], default: z}`, "a.default", "not one of the values"},
		{"enum empty", `a: {type: enum, name: A, values: [], default: z}`, "a.values", "at least one"},
		{"enum dup", `a: {type: enum, name: A, values: [x, x], default: x}`, "a.values[1]", "twice"},
		{"enum value-names", `a: {type: enum, name: A, values: [x], value-names: {y: Y}, default: x}`, "a.value-names.y", "not one of the values"},
		{"list subtype", `a: {type: list, subtype: boolean, name: A}`, "a.subtype", "unknown subtype"},
		{"list item spec", `a: {type: list, subtype: string, name: A, spec: {pattern: "(", pattern-description: x}}`, "a.spec.pattern", "invalid regular expression"},
		{"list default item", `a: {type: list, subtype: number, name: A, spec: {integral: true}, default: [1.5]}`, "a.default[0]", "whole number"},
		{"object nested", `a: {type: object, name: A, spec: {b: {type: object, name: B, spec: {c: {type: number, name: C, nullable: maybe}}}}}`, "a.spec.b.spec.c.nullable", "want true or false"},
		{"unique-by unknown key", `a: {type: object, name: A, unique-by: z, spec: {b: {type: boolean, name: B, default: true}}}`, "a.unique-by", `"z" is not a key`},
		{"object without spec", `a: {type: object, name: A}`, "a.spec", "required"},
		{"union default", `a: {type: union, name: A, default: z, tag: {id: t, name: T}, variants: {x: {}}}`, "a.default", "not a variant"},
		{"union tag clash", `a: {type: union, name: A, default: x, tag: {id: t, name: T}, variants: {x: {t: {type: boolean, name: B, default: true}}}}`, "a.variants.x.t", "named like the tag id"},
		{"union no tag", `a: {type: union, name: A, default: x, variants: {x: {}}}`, "a.tag", "required"},
		{"pointer target", `a: {type: pointer, name: A, subtype: package, target: secret, package-id: x}`, "a.target", "unknown package pointer target"},
		{"pointer interface", `a: {type: pointer, name: A, subtype: package, target: lan-address, package-id: x}`, "a.interface", "required"},
		{"alias", "x: &a {type: boolean, name: A, default: true}\ny: *a", "y", "aliases"},
		{"not a mapping", `[1, 2]`, "", "want a mapping"},
		{"garbage", "{{{", "", "not YAML or JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(c.spec))
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("want a *SpecError, got %v", err)
			}
			if se.Path != c.path || !strings.Contains(se.Message, c.msg) {
				t.Fatalf("got %q at %q, want %q at %q", se.Message, se.Path, c.msg, c.path)
			}
			if !errors.Is(err, errdefs.ErrInvalidConfigSpec) {
				t.Fatal("does not wrap ErrInvalidConfigSpec")
			}
		})
	}
}

func TestDefaultsAreValidAndGenerated(t *testing.T) {
	s := everyType(t)
	a, err := s.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(a); err != nil {
		t.Fatalf("defaults do not validate: %v\n%s", err, CanonicalJSON(a))
	}
	pw, _ := a["password"].(string)
	if len(pw) != 22 || strings.Trim(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		t.Fatalf("generated password %q", pw)
	}
	b, _ := s.Defaults()
	if b["password"] == a["password"] {
		t.Fatal("two generated passwords are equal")
	}
	if a["nickname"] != nil || a["ratio"] != nil {
		t.Fatalf("nullable values without a default are not null: %v %v", a["nickname"], a["ratio"])
	}
	users := a["users"].([]any)
	if len(users) != 1 || users[0].(map[string]any)["name"] != "admin" {
		t.Fatalf("users padded to the minimum length: %v", users)
	}
	if be := a["backend"].(map[string]any); be["type"] != "internal" || len(be) != 1 {
		t.Fatalf("union default %v", be)
	}
}

func TestValidateNamesThePath(t *testing.T) {
	s := everyType(t)
	cases := []struct {
		name  string
		edit  func(c Config)
		path  string
		msg   string
		valid bool
	}{
		{"defaults", func(c Config) {}, "", "", true},
		{"pattern", func(c Config) { c["greeting"] = "Hi!" }, "greeting", "lower-case letters and spaces", false},
		{"not null", func(c Config) { c["greeting"] = nil }, "greeting", "required", false},
		{"missing key is null", func(c Config) { delete(c, "greeting") }, "greeting", "required", false},
		{"nullable", func(c Config) { c["nickname"] = nil; c["ratio"] = nil }, "", "", true},
		{"string type", func(c Config) { c["nickname"] = 3.0 }, "nickname", "want a string, not a number", false},
		{"integral", func(c Config) { c["port"] = 8080.5 }, "port", "not a whole number", false},
		{"range low", func(c Config) { c["port"] = 80.0 }, "port", "outside the range [1024,65535]", false},
		{"open range", func(c Config) { c["ratio"] = 1.0 }, "ratio", "outside the range (0,1)", false},
		{"boolean", func(c Config) { c["enabled"] = "yes" }, "enabled", "want true or false", false},
		{"enum", func(c Config) { c["color"] = "pink" }, "color", `"pink" is not one of red, green, blue`, false},
		{"list length", func(c Config) { c["tags"] = []any{"a", "b", "c", "d", "e", "f"} }, "tags", "has 6 items", false},
		{"list item", func(c Config) { c["tags"] = []any{"a", "B"} }, "tags[1]", "letters", false},
		{"list unique", func(c Config) { c["tags"] = []any{"a", "a"} }, "tags[1]", "same as item 0", false},
		{"number list", func(c Config) { c["primes"] = []any{2.0, 1.0} }, "primes[1]", "outside the range", false},
		{"enum list", func(c Config) { c["levels"] = []any{"mid"} }, "levels[0]", "not one of low, high", false},
		{"object list min", func(c Config) { c["users"] = []any{} }, "users", "has 0 items", false},
		{"object list item", func(c Config) {
			c["users"] = []any{map[string]any{"name": "a", "admin": "no"}}
		}, "users[0].admin", "want true or false", false},
		{"unique-by", func(c Config) {
			c["users"] = []any{map[string]any{"name": "a", "admin": true}, map[string]any{"name": "a", "admin": false}}
		}, "users[1]", "same as item 0", false},
		{"unique-by other names", func(c Config) {
			c["users"] = []any{map[string]any{"name": "a", "admin": true}, map[string]any{"name": "b", "admin": true}}
		}, "", "", true},
		{"object unknown key", func(c Config) { c["advanced"] = map[string]any{"threads": 2.0, "fast": true} }, "advanced.fast", "unknown key", false},
		{"object nested", func(c Config) { c["advanced"] = map[string]any{"threads": 100.0} }, "advanced.threads", "outside the range", false},
		{"union variant", func(c Config) { c["backend"] = map[string]any{"type": "external", "url": "http://x"} }, "", "", true},
		{"union missing field", func(c Config) { c["backend"] = map[string]any{"type": "external"} }, "backend.url", "required", false},
		{"union bad tag", func(c Config) { c["backend"] = map[string]any{"type": "cloud"} }, "backend.type", `"cloud" is not one of internal, external`, false},
		{"union no tag", func(c Config) { c["backend"] = map[string]any{} }, "backend.type", "required", false},
		{"union other variant's key", func(c Config) { c["backend"] = map[string]any{"type": "internal", "url": "x"} }, "backend.url", "unknown key", false},
		{"union list", func(c Config) {
			c["peers"] = []any{map[string]any{"kind": "tcp", "host": "a"}, map[string]any{"kind": "unix", "path": "/p"}}
		}, "", "", true},
		{"union list unique", func(c Config) {
			c["peers"] = []any{map[string]any{"kind": "tcp", "host": "a"}, map[string]any{"kind": "tcp", "host": "a"}}
		}, "peers[1]", "same as item 0", false},
		{"union list item", func(c Config) { c["peers"] = []any{map[string]any{"kind": "tcp", "host": 1.0}} }, "peers[0].host", "want a string", false},
		{"pointer takes anything", func(c Config) { c["dep-address"] = "x.local" }, "", "", true},
		{"unknown top key", func(c Config) { c["extra"] = 1.0 }, "extra", "unknown key", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := s.Defaults()
			if err != nil {
				t.Fatal(err)
			}
			c.edit(cfg)
			err = s.Validate(cfg)
			if c.valid {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ve *ValueError
			if !errors.As(err, &ve) {
				t.Fatalf("want a *ValueError, got %v", err)
			}
			if ve.Path != c.path || !strings.Contains(ve.Message, c.msg) {
				t.Fatalf("got %q at %q, want %q at %q", ve.Message, ve.Path, c.msg, c.path)
			}
			if !errors.Is(err, errdefs.ErrConfigSpecViolation) {
				t.Fatal("does not wrap ErrConfigSpecViolation")
			}
		})
	}
}

func TestParseValue(t *testing.T) {
	c, err := ParseValue([]byte("port: 8080\ntags: [a]\nnested: {x: 1.5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c["port"] != 8080.0 || c["nested"].(map[string]any)["x"] != 1.5 {
		t.Fatalf("numbers are not JSON numbers: %#v", c)
	}
	for _, bad := range []string{"[1]", "a: &x 1\nb: *x", "{a: 1, a: 2}", "? [1]\n: 2", "\"just a string\""} {
		if _, err := ParseValue([]byte(bad)); !errors.Is(err, errdefs.ErrConfigSpecViolation) {
			t.Errorf("%q: want a refusal, got %v", bad, err)
		}
	}
	if c, err := ParseValue(nil); err != nil || len(c) != 0 {
		t.Fatalf("empty document: %v %v", c, err)
	}
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	if _, err := ParseValue([]byte("a: " + deep)); err == nil {
		t.Fatal("100 levels deep accepted")
	}
}

func TestRanges(t *testing.T) {
	cases := []struct {
		r   string
		in  []float64
		out []float64
	}{
		{"[0,10]", []float64{0, 10, 5}, []float64{-1, 10.1}},
		{"(0,10)", []float64{0.1, 9.9}, []float64{0, 10}},
		{"[1,*)", []float64{1, 1e9}, []float64{0.99}},
		{"(*,*)", []float64{-1e9, 1e9}, nil},
		{" [ -5 , 5 ) ", []float64{-5}, []float64{5}},
	}
	for _, c := range cases {
		r, err := ParseRange(c.r)
		if err != nil {
			t.Fatalf("%s: %v", c.r, err)
		}
		for _, x := range c.in {
			if !r.Contains(x) {
				t.Errorf("%s should contain %v", c.r, x)
			}
		}
		for _, x := range c.out {
			if r.Contains(x) {
				t.Errorf("%s should not contain %v", c.r, x)
			}
		}
	}
	for _, bad := range []string{"", "[1,2", "1,2]", "[a,2]", "[2,1]", "[1;2]", "[NaN,1]"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCommentedYAMLRoundTrips(t *testing.T) {
	s := everyType(t)
	cfg, _ := s.Defaults()
	cfg["backend"] = map[string]any{"type": "external", "url": "http://x"}
	out, err := s.CommentedYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, want := range []string{"# Greeting (string): must be: lower-case letters and spaces", "# Password (string, masked)",
		"# Port (whole number): range [1024,65535]; in port", "# Backend type: one of internal, external"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
	back, err := ParseValue(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(CanonicalJSON(back)) != string(CanonicalJSON(cfg)) {
		t.Fatalf("round trip differs:\n%s\n%s", CanonicalJSON(back), CanonicalJSON(cfg))
	}
}

func TestProperties(t *testing.T) {
	p, err := ParseProperties([]byte(`
version: 2
data:
  Password:
    type: string
    value: s3cret
    description: The admin password
    copyable: true
    masked: true
    qr: false
  Connection:
    type: object
    value:
      URL: {type: string, value: "http://x.local", qr: true, copyable: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	if pw := p.Data["Password"]; pw.Value != "s3cret" || !pw.Masked || !pw.Copyable || *pw.Description != "The admin password" {
		t.Fatalf("password %+v", pw)
	}
	if u := p.Data["Connection"].Children["URL"]; u.Value != "http://x.local" || !u.QR {
		t.Fatalf("nested %+v", u)
	}
	b, _ := json.Marshal(p)
	var back Properties
	if err := json.Unmarshal(b, &back); err != nil || back.Data["Connection"].Children["URL"].Value != "http://x.local" {
		t.Fatalf("JSON round trip: %v %s", err, b)
	}
	if !strings.Contains(string(b), `"Connection":{"type":"object","description":null,"value":{"URL"`) {
		t.Fatalf("wire shape: %s", b)
	}
	// The older flat form becomes version 2.
	old, err := ParseProperties([]byte("Address: {value: x.local, copyable: true}\nNote: plain\n"))
	if err != nil || old.Data["Address"].Value != "x.local" || old.Data["Note"].Value != "plain" {
		t.Fatalf("flat form: %v %+v", err, old)
	}
	for _, bad := range []string{"version: 3\ndata: {}", "version: 2\ndata: 1", "a: {type: blob, value: x}", "a: {type: object, value: 1}", "a: [1]", "{{"} {
		if _, err := ParseProperties([]byte(bad)); !errors.Is(err, errdefs.ErrAction) {
			t.Errorf("%q: want a refusal, got %v", bad, err)
		}
	}
}
