package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
)

func TestRulesCheck(t *testing.T) {
	cfg := Config{
		"rpc":         map[string]any{"enable": true, "port": 8332.0, "user": "bitcoin"},
		"zmq-enabled": false,
		"mode":        "disabled",
		"users": []any{
			map[string]any{"name": "lnd", "fetch-blocks": true},
			map[string]any{"name": "btcpay", "fetch-blocks": false},
		},
		"nothing": nil,
	}
	for _, tc := range []struct {
		rule string
		want bool
	}{
		{"rpc.enable?", true},
		{"zmq-enabled?", false},
		{"!zmq-enabled?", true},
		{"nothing?", false},
		{"missing.deep.key?", false},
		{"'mode = \"disabled\"", true},
		{"'mode != \"disabled\"", false},
		{"#rpc.port = 8332", true},
		{"#rpc.port > 1000 AND #rpc.port < 9000", true},
		{"#rpc.port + 1 = 8333", true},
		{"#rpc.port >= 2 ^ 14", false},
		{"rpc.enable? && zmq-enabled?", false},
		{"rpc.enable? || zmq-enabled?", true},
		{"rpc.enable? XOR zmq-enabled?", true},
		{"!(rpc.enable? OR zmq-enabled?)", false},
		{"'rpc.user + \"!\" = \"bitcoin!\"", true},
		{"'rpc.port = \"8332\"", true},
		{"'users.*.name = \"btcpay\"", true},
		{"'users.*.name = \"cln\"", false},
		{"'users.&.name = \"lnd\"", false},
		{"users.&.fetch-blocks? OR true", true},
		{"users.[0].fetch-blocks?", true},
		{"users.[5].fetch-blocks?", false},
		{`users.[first(item => 'item.name = "btcpay")].fetch-blocks?`, false},
		{`users.[first(item => 'item.name = "lnd")].fetch-blocks?`, true},
		{`users.[any(u => 'u.name = "lnd")]?`, true},
		{`users.[all(u => u.fetch-blocks?)]?`, false},
		{"true", true},
		{"false", false},
	} {
		r, err := ParseRules([]byte("- rule: " + yamlQuote(tc.rule) + "\n  description: d\n"))
		if err != nil {
			t.Errorf("%s: %v", tc.rule, err)
			continue
		}
		if got := r.Check(cfg) == nil; got != tc.want {
			t.Errorf("%s = %v, want %v", tc.rule, got, tc.want)
		}
	}
}

func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestRulesParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"not a list", "a: 1", "want a list of rules"},
		{"no rule", "- description: d", "[0].rule: required"},
		{"no description", "- rule: a?", "[0].description: required"},
		{"bad rule", "- {rule: \"a? AND\", description: d}", "[0].rule: unexpected end"},
		{"unclosed", "- {rule: '(a?', description: d}", "missing )"},
		{"other package", "- {rule: \"[bitcoind].x?\", description: d}", "other packages"},
		{"two ops", "- {rule: \"a?\", description: d, suggestions: [{SET: {var: a, to-value: 1}, DELETE: a}]}", "suggestions[0]: want exactly one"},
		{"set without value", "- {rule: \"a?\", description: d, suggestions: [{SET: {var: a}}]}", "want one of to-value"},
		{"set any", "- {rule: \"a?\", description: d, suggestions: [{SET: {var: 'a.*', to-value: 1}}]}", "cannot use *"},
		{"bad entropy", "- {rule: \"a?\", description: d, suggestions: [{SET: {var: a, to-entropy: {charset: 'z-a', len: 3}}}]}", "invalid charset"},
		{"deep", "- {rule: '" + strings.Repeat("(", 100) + "a?" + strings.Repeat(")", 100) + "', description: d}", "nested too deeply"},
	} {
		_, err := ParseRules([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrInvalidRequest) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// The rules of StartOS 0.3's c-lightning and lnd for bitcoind.
const bitcoindRules = `
- rule: '''users.*.name = "c-lightning"'
  description: 'Must have an RPC user named "c-lightning"'
  suggestions:
    - PUSH:
        to: "users"
        value:
          name: c-lightning
          allowed-calls: []
    - SET:
        var: 'users.[first(item => ''item.name = "c-lightning")].password'
        to-entropy:
          charset: "a-z,A-Z,0-9"
          len: 22
- rule: 'users.[first(item => ''item.name = "c-lightning")].fetch-blocks?'
  description: 'RPC user "c-lightning" must have "Fetch Blocks" enabled'
  suggestions:
    - SET:
        var: 'users.[first(item => ''item.name = "c-lightning")].fetch-blocks'
        to-value: true
- rule: "zmq-enabled?"
  description: "Must have an ZeroMQ enabled"
  suggestions:
    - SET:
        var: "zmq-enabled"
        to-value: true
- rule: "'advanced.mode = \"archive\""
  description: "Must keep every block"
  suggestions:
    - if: "'advanced.mode = \"pruned\""
      SET:
        var: advanced.mode
        to: '"arch" + "ive"'
    - DELETE: advanced.prune-size
`

func TestRulesAutoConfigure(t *testing.T) {
	r, err := ParseRules([]byte(bitcoindRules))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{"users": []any{map[string]any{"name": "lnd"}}, "zmq-enabled": false,
		"advanced": map[string]any{"mode": "pruned", "prune-size": 550.0}}
	err = r.Check(cfg)
	var v *RuleViolation
	if !errors.As(err, &v) || len(v.Descriptions) != 4 || !errors.Is(err, errdefs.ErrConfigSpecViolation) {
		t.Fatalf("check: %v", err)
	}
	out, err := r.AutoConfigure(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(out); err != nil {
		t.Fatalf("still failing after auto-configure: %v", err)
	}
	users := out["users"].([]any)
	cl := users[1].(map[string]any)
	if len(users) != 2 || cl["name"] != "c-lightning" || len(cl["password"].(string)) != 22 || cl["fetch-blocks"] != true {
		t.Fatalf("users %v", users)
	}
	if adv := out["advanced"].(map[string]any); adv["mode"] != "archive" || adv["prune-size"] != nil || len(adv) != 1 {
		t.Fatalf("advanced %v", adv)
	}
	if len(cfg["users"].([]any)) != 1 || cfg["zmq-enabled"] != false {
		t.Fatalf("the input was changed: %v", cfg)
	}
	// A suggestion that does not fix its rule: the rule's description.
	r2, err := ParseRules([]byte("- {rule: 'a?', description: want a, suggestions: [{SET: {var: a, to-value: false}}]}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.AutoConfigure(Config{}); err == nil || err.Error() != "want a" {
		t.Fatalf("unfixable: %v", err)
	}
}
