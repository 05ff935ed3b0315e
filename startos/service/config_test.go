package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/config"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// adoptWithAssets records pkg as installed, writes its assets volume (as
// the installer unpacks it) and adopts it.
func (e *env) adoptWithAssets(pkg *testpkg.Package, assets map[string]string) string {
	e.t.Helper()
	id := pkg.Manifest.ID
	dir := VolumePath(e.dataDir, id, "static")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for name, body := range assets {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	e.record(pkg.Manifest, model.DesiredStopped)
	e.adopt(id)
	return id
}

// adopt adopts id and releases it at the end of the test, before
// testpkg's sweep removes its image: an actor still running then would
// recreate the network and leave it behind.
func (e *env) adopt(id string) {
	e.t.Helper()
	if err := e.m.Adopt(context.Background(), id); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := e.m.Release(context.Background(), id); err != nil {
			e.t.Errorf("release %s: %v", id, err)
		}
	})
}

func everyTypeSpec(t *testing.T) string {
	b, err := os.ReadFile("../config/testdata/every-type.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The compat form: the spec read from the assets volume, the config kept
// as YAML in the main volume, stats.yaml for properties; needs-config until
// a config is saved; saving one restarts a running package.
func TestConfigCompatForm(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	assets := map[string]string{"config_spec.yaml": everyTypeSpec(t)}
	pkg := testpkg.Build(t, e.engine, testpkg.Options{Config: "compat", Assets: assets})
	id := e.adoptWithAssets(pkg, assets)

	en := e.entry(id)
	if !en.StatusInfo.NeedsConfig() || model.DeriveStatus(&en).Primary != model.StatusNeedsConfig {
		t.Fatalf("a package with a spec and no config: configured=%v status %q", en.StatusInfo.Configured, model.DeriveStatus(&en).Primary)
	}
	if err := e.m.StartPackage(ctx, id); !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "needs config") {
		t.Fatalf("start before config: %v", err)
	}

	res, err := e.m.ConfigGet(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Spec.Keys[0] != "greeting" || len(res.Spec.Keys) != 15 {
		t.Fatalf("spec keys %v", res.Spec.Keys)
	}
	pw, _ := res.Config["password"].(string)
	if len(pw) != 22 || res.Config["greeting"] != "hello" {
		t.Fatalf("defaults %v", res.Config)
	}

	cfgFile := filepath.Join(VolumePath(e.dataDir, id, "main"), "start9", "config.yaml")
	bad := cloneConfig(res.Config)
	bad["users"] = []any{map[string]any{"name": "a", "admin": "yes"}}
	if _, err := e.m.ConfigSet(ctx, id, bad, false); !errors.Is(err, errdefs.ErrConfigSpecViolation) || !strings.Contains(err.Error(), "users[0].admin") {
		t.Fatalf("a bad value deep inside: %v", err)
	}
	if _, err := os.Stat(cfgFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused config was written: %v", err)
	}

	good := cloneConfig(res.Config)
	good["greeting"] = "hi there"
	if _, err := e.m.ConfigSet(ctx, id, good, false); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(cfgFile)
	if err != nil || !strings.Contains(string(saved), "greeting: hi there") {
		t.Fatalf("saved config %q %v", saved, err)
	}
	if en := e.entry(id); en.StatusInfo.NeedsConfig() || en.StatusInfo.Configured == nil {
		t.Fatalf("configured after set: %v", en.StatusInfo.Configured)
	}
	again, err := e.m.ConfigGet(ctx, id)
	if err != nil || again.Config["password"] != pw || again.Config["greeting"] != "hi there" {
		t.Fatalf("config read back: %v %v", again.Config, err)
	}

	if err := e.m.StartPackage(ctx, id); err != nil {
		t.Fatal(err)
	}
	first := *e.waitFor(id, "running", 30*time.Second, healthy).StatusInfo.Started
	good["greeting"] = "hi again"
	if _, err := e.m.ConfigSet(ctx, id, good, false); err != nil {
		t.Fatal(err)
	}
	e.waitFor(id, "restarted after config set", 30*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Started != nil && en.StatusInfo.Started.After(first) && en.StatusInfo.Desired.Main == model.DesiredRunning
	})

	t.Log("properties from stats.yaml")
	if p, err := e.m.Properties(ctx, id); err != nil || len(p.Data) != 0 || p.Version != 2 {
		t.Fatalf("properties without stats.yaml: %+v %v", p, err)
	}
	stats := filepath.Join(VolumePath(e.dataDir, id, "main"), "start9", "stats.yaml")
	if err := os.WriteFile(stats, []byte("version: 2\ndata:\n  Password:\n    type: string\n    value: "+pw+"\n    masked: true\n    copyable: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := e.m.Properties(ctx, id)
	if err != nil || p.Data["Password"].Value != pw || !p.Data["Password"].Masked {
		t.Fatalf("properties %+v %v", p, err)
	}
	if err := os.WriteFile(stats, []byte("version: 2\ndata: [1, 2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Properties(ctx, id); !errors.Is(err, errdefs.ErrAction) || !strings.Contains(err.Error(), "not YAML") {
		t.Fatalf("garbage stats.yaml: %v", err)
	}

	t.Log("a symlink planted where the config lives is not followed")
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("greeting: stolen\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cfgFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, cfgFile); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.ConfigGet(ctx, id); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("config get through a symlink: %v", err)
	}
	if _, err := e.m.ConfigSet(ctx, id, good, false); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("config set through a symlink: %v", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "greeting: stolen\n" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
}

func cloneConfig(c config.Config) config.Config {
	out, err := config.Normalize(c)
	if err != nil {
		panic(err)
	}
	return out
}

const dockerSpec = `{"greeting": {"type": "string", "name": "Greeting", "nullable": false, "default": "hello"},
 "password": {"type": "string", "name": "Password", "nullable": false, "masked": true, "copyable": true, "default": {"charset": "a-f", "len": 12}}}`

// Docker procedures: config get and set run in the package's image; a set
// the container refuses, or a dry run, leaves the saved config as it was;
// properties come from the properties procedure.
func TestConfigDockerProcedures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	assets := map[string]string{"spec.json": dockerSpec}
	pkg := testpkg.Build(t, e.engine, testpkg.Options{Config: "docker", Assets: assets})
	id := e.adoptWithAssets(pkg, assets)

	res, err := e.m.ConfigGet(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Spec.Keys, ",") != "greeting,password" || len(res.Config["password"].(string)) != 12 {
		t.Fatalf("get: %v %v", res.Spec.Keys, res.Config)
	}
	cfgFile := filepath.Join(VolumePath(e.dataDir, id, "main"), "start9", "config.json")
	if _, err := e.m.ConfigSet(ctx, id, config.Config{"greeting": "hi", "password": "abc"}, false); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(cfgFile)
	if err != nil || !strings.Contains(string(before), `"greeting":"hi"`) {
		t.Fatalf("saved by the container: %q %v", before, err)
	}
	if _, err := e.m.ConfigSet(ctx, id, config.Config{"greeting": "boom", "password": "abc"}, false); !errors.Is(err, errdefs.ErrAction) || !strings.Contains(err.Error(), "refusing a config with boom") {
		t.Fatalf("a set the container refuses: %v", err)
	}
	if _, err := e.m.ConfigSet(ctx, id, config.Config{"greeting": "dry", "password": "abc"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.ConfigSet(ctx, id, config.Config{"greeting": "hi", "password": "abc", "extra": 1}, false); !errors.Is(err, errdefs.ErrConfigSpecViolation) || !strings.Contains(err.Error(), "extra: unknown key") {
		t.Fatalf("an unknown key: %v", err)
	}
	if after, _ := os.ReadFile(cfgFile); string(after) != string(before) {
		t.Fatalf("the saved config changed: %q -> %q", before, after)
	}
	p, err := e.m.Properties(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if pw := p.Data["Password"]; pw.Value != "abc" || !pw.Masked || !pw.Copyable {
		t.Fatalf("password property %+v", pw)
	}
	if g := p.Data["Connection"].Children["Greeting"]; g.Value != "hi" || !g.QR {
		t.Fatalf("nested property %+v", g)
	}
}

// A config get that prints garbage or hangs is a clear error.
func TestConfigProcedureFaults(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	assets := map[string]string{"spec.json": dockerSpec}
	garbage := e.adoptWithAssets(testpkg.Build(t, e.engine, testpkg.Options{Config: "docker-garbage", Assets: assets}), assets)
	if _, err := e.m.ConfigGet(ctx, garbage); !errors.Is(err, errdefs.ErrInvalidConfigSpec) || !strings.Contains(err.Error(), "no {spec, config} mapping") {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := e.m.ConfigSet(ctx, garbage, config.Config{"greeting": "x"}, false); err == nil {
		t.Fatal("a set against a spec that cannot be read succeeded")
	}
	hang := e.adoptWithAssets(testpkg.Build(t, e.engine, testpkg.Options{Config: "docker-hang", Assets: assets}), assets)
	// Short, so the test does not wait long; a start slower than this on a
	// loaded machine times out the same way.
	e.m.opts.ConfigTimeout = 3 * time.Second
	if _, err := e.m.ConfigGet(ctx, hang); !errors.Is(err, errdefs.ErrTimeout) || !strings.Contains(err.Error(), "did not finish within 3s") {
		t.Fatalf("hang: %v", err)
	}
}

// A dependent's config check fails on its dependency's config: the
// dependency shows configUnsatisfied with the check's message, the
// dependent cannot start, a dry run names the breakage, and auto-configure
// fixes the dependency's config.
func TestDependencyConfigCheckAndAutoConfigure(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	assets := map[string]string{"spec.json": dockerSpec}
	dep := e.adoptWithAssets(testpkg.Build(t, e.engine, testpkg.Options{Config: "docker", Assets: assets}), assets)
	if _, err := e.m.ConfigSet(ctx, dep, config.Config{"greeting": "hello", "password": "abc"}, false); err != nil {
		t.Fatal(err)
	}
	if err := e.m.StartPackage(ctx, dep); err != nil {
		t.Fatal(err)
	}
	e.waitFor(dep, "dependency running", 30*time.Second, healthy)

	dependent := testpkg.Build(t, e.engine, testpkg.Options{Requires: map[string]string{dep: "*"},
		ConfigRules: map[string]testpkg.ConfigRule{dep: {Key: "greeting", Value: "hello-dependent"}}})
	e.record(dependent.Manifest, model.DesiredStopped)
	did := dependent.Manifest.ID
	e.adopt(did)
	e.waitFor(did, "config check recorded", 30*time.Second, func(en model.PackageDataEntry) bool {
		return strings.Contains(en.StatusInfo.DependencyConfigErrors[dep], "greeting must be hello-dependent, not hello")
	})
	states, err := e.m.Dependencies(did)
	if err != nil {
		t.Fatal(err)
	}
	if s := states[dep]; s.Kind != model.DependencyConfigUnsatisfied || !strings.Contains(s.Message, "greeting must be hello-dependent") {
		t.Fatalf("dependency state %+v", s)
	}
	if err := e.m.StartPackage(ctx, did); !errors.Is(err, errdefs.ErrDependency) {
		t.Fatalf("start with an unsatisfied dependency config: %v", err)
	}
	br, err := e.m.ConfigSet(ctx, dep, config.Config{"greeting": "other", "password": "abc"}, true)
	if err != nil || br[did].Dependency != dep || !strings.Contains(br[did].Error, "not other") {
		t.Fatalf("dry run breakages %+v %v", br, err)
	}

	dry, err := e.m.AutoConfigure(ctx, did, dep, true)
	if err != nil || dry.NewConfig["greeting"] != "hello-dependent" || dry.OldConfig["greeting"] != "hello" {
		t.Fatalf("auto-configure dry run %+v %v", dry, err)
	}
	startedBefore := *e.entry(dep).StatusInfo.Started
	if _, err := e.m.AutoConfigure(ctx, did, dep, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.m.ConfigGet(ctx, dep); got.Config["greeting"] != "hello-dependent" || got.Config["password"] != "abc" {
		t.Fatalf("dependency config after auto-configure %v", got.Config)
	}
	if errs := e.entry(did).StatusInfo.DependencyConfigErrors; len(errs) != 0 {
		t.Fatalf("errors left after auto-configure: %v", errs)
	}
	e.waitFor(dep, "dependency restarted with its new config", 30*time.Second, func(en model.PackageDataEntry) bool {
		return healthy(en) && en.StatusInfo.Started.After(startedBefore)
	})
	if err := e.m.StartPackage(ctx, did); err != nil {
		t.Fatalf("start once the dependency is configured: %v", err)
	}
	e.waitFor(did, "dependent running", 30*time.Second, healthy)
}

// The rules a dependent declares on its dependency's config, in the compat
// config_rules.yaml form (as lnd and c-lightning declared them on bitcoind).
const dependencyRules = `
- rule: 'enabled?'
  description: 'The dependency must be enabled'
  suggestions:
    - SET:
        var: enabled
        to-value: true
- rule: '''users.*.name = "dependent"'
  description: 'Must have a user named "dependent"'
  suggestions:
    - PUSH:
        to: users
        value:
          name: dependent
          admin: false
- rule: 'users.[first(item => ''item.name = "dependent")].admin?'
  description: 'User "dependent" must be an admin'
  suggestions:
    - SET:
        var: 'users.[first(item => ''item.name = "dependent")].admin'
        to-value: true
`

// The compat form of dependency config rules, carried out by the daemon: a
// dependency whose config fails the dependent's config_rules.yaml shows
// configUnsatisfied with the rule's description; auto-configure applies
// the rules' suggestions and saves the result. The dependency's own
// config_rules.yaml is enforced by its config set.
func TestDependencyConfigRulesCompatForm(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	depAssets := map[string]string{"config_spec.yaml": everyTypeSpec(t), "config_rules.yaml": "- {rule: '#port != 1234', description: 'Port 1234 is reserved'}\n"}
	dep := e.adoptWithAssets(testpkg.Build(t, e.engine, testpkg.Options{Config: "compat", Assets: depAssets}), depAssets)
	res, err := e.m.ConfigGet(ctx, dep)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cloneConfig(res.Config)
	cfg["enabled"] = false
	cfg["users"] = []any{map[string]any{"name": "admin", "admin": true}}
	cfgFile := filepath.Join(VolumePath(e.dataDir, dep, "main"), "start9", "config.yaml")

	reserved := cloneConfig(cfg)
	reserved["port"] = 1234.0
	if _, err := e.m.ConfigSet(ctx, dep, reserved, false); !errors.Is(err, errdefs.ErrConfigSpecViolation) || !strings.Contains(err.Error(), "Port 1234 is reserved") {
		t.Fatalf("a config breaking the package's own rules: %v", err)
	}
	if _, err := os.Stat(cfgFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a config breaking the rules was written: %v", err)
	}
	if _, err := e.m.ConfigSet(ctx, dep, cfg, false); err != nil {
		t.Fatal(err)
	}

	assets := map[string]string{"dep_rules.yaml": dependencyRules}
	dependent := testpkg.Build(t, e.engine, testpkg.Options{Requires: map[string]string{dep: "*"}, Assets: assets,
		ConfigRules: map[string]testpkg.ConfigRule{dep: {Rules: "dep_rules.yaml"}}})
	did := e.adoptWithAssets(dependent, assets)
	e.waitFor(did, "config check recorded", 30*time.Second, func(en model.PackageDataEntry) bool {
		return strings.Contains(en.StatusInfo.DependencyConfigErrors[dep], "The dependency must be enabled")
	})
	states, err := e.m.Dependencies(did)
	if err != nil {
		t.Fatal(err)
	}
	if s := states[dep]; s.Kind != model.DependencyConfigUnsatisfied || !strings.Contains(s.Message, `Must have a user named "dependent"`) {
		t.Fatalf("dependency state %+v", s)
	}
	if err := e.m.StartPackage(ctx, did); !errors.Is(err, errdefs.ErrDependency) {
		t.Fatalf("start with an unsatisfied dependency config: %v", err)
	}

	dry, err := e.m.AutoConfigure(ctx, did, dep, true)
	if err != nil {
		t.Fatal(err)
	}
	users, _ := dry.NewConfig["users"].([]any)
	if dry.NewConfig["enabled"] != true || len(users) != 2 || users[1].(map[string]any)["admin"] != true || dry.OldConfig["enabled"] != false {
		t.Fatalf("auto-configure dry run: old %v new %v", dry.OldConfig, dry.NewConfig)
	}
	if got, _ := e.m.ConfigGet(ctx, dep); got.Config["enabled"] != false {
		t.Fatalf("a dry run changed the config: %v", got.Config)
	}
	if _, err := e.m.AutoConfigure(ctx, did, dep, false); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(cfgFile)
	if err != nil || !strings.Contains(string(saved), "name: dependent") || !strings.Contains(string(saved), "enabled: true") {
		t.Fatalf("saved config after auto-configure: %s %v", saved, err)
	}
	if errs := e.entry(did).StatusInfo.DependencyConfigErrors; len(errs) != 0 {
		t.Fatalf("errors left after auto-configure: %v", errs)
	}
	states, err = e.m.Dependencies(did)
	if err != nil || states[dep].Kind == model.DependencyConfigUnsatisfied {
		t.Fatalf("dependency state after auto-configure %+v %v", states[dep], err)
	}

	// A change that would break the dependent is named by a dry run.
	next := cloneConfig(dry.NewConfig)
	next["enabled"] = false
	br, err := e.m.ConfigSet(ctx, dep, next, true)
	if err != nil || br[did].Dependency != dep || br[did].Error != "The dependency must be enabled" {
		t.Fatalf("dry run breakages %+v %v", br, err)
	}
}

// Pointers are filled by the box: a dependency's LAN address (while LAN
// access gives it one), parts of its saved config, null for Tor and for a
// package that is not a dependency; a value a client sends for a pointer is
// replaced, and the saved config holds the filled values.
func TestConfigPointers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	depAssets := map[string]string{"config_spec.yaml": everyTypeSpec(t)}
	dep := e.adoptWithAssets(testpkg.Build(t, e.engine, testpkg.Options{Config: "compat", Assets: depAssets}), depAssets)
	res, err := e.m.ConfigGet(ctx, dep)
	if err != nil {
		t.Fatal(err)
	}
	depCfg := cloneConfig(res.Config)
	depCfg["users"] = []any{map[string]any{"name": "alice", "admin": true}, map[string]any{"name": "bob", "admin": false}}
	if _, err := e.m.ConfigSet(ctx, dep, depCfg, false); err != nil {
		t.Fatal(err)
	}
	if err := e.m.mutateEntry(ctx, dep, func(en *model.PackageDataEntry) {
		en.InterfaceAddresses = map[string]model.InterfaceAddresses{"main": {LanAddress: "dep-abc.local"}}
	}); err != nil {
		t.Fatal(err)
	}

	spec := `
address: {type: pointer, name: Address, subtype: package, package-id: ` + dep + `, target: lan-address, interface: main}
onion: {type: pointer, name: Onion, subtype: package, package-id: ` + dep + `, target: tor-address, interface: main}
greeting: {type: pointer, name: Greeting, subtype: package, package-id: ` + dep + `, target: config, selector: "$.greeting"}
names: {type: pointer, name: Names, subtype: package, package-id: ` + dep + `, target: config, selector: "$.users[*].name", multi: true}
stranger: {type: pointer, name: Stranger, subtype: package, package-id: not-a-dependency, target: lan-address, interface: main}
note: {type: string, name: Note, nullable: false, default: hi}
`
	assets := map[string]string{"config_spec.yaml": spec}
	id := e.adoptWithAssets(testpkg.Build(t, e.engine, testpkg.Options{Config: "compat", Assets: assets, Requires: map[string]string{dep: "*"}}), assets)
	got, err := e.m.ConfigGet(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{"address": "dep-abc.local", "onion": nil, "greeting": "hello", "names": []any{"alice", "bob"}, "stranger": nil, "note": "hi"}
	if string(config.CanonicalJSON(got.Config)) != string(config.CanonicalJSON(want)) {
		t.Fatalf("config get: %s\nwant %s", config.CanonicalJSON(got.Config), config.CanonicalJSON(want))
	}
	sent := config.Config{"address": "evil.example", "onion": "x.onion", "greeting": 1.0, "names": "x", "stranger": "y", "note": "saved"}
	if _, err := e.m.ConfigSet(ctx, id, sent, false); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(filepath.Join(VolumePath(e.dataDir, id, "main"), "start9", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"address: dep-abc.local", "- alice", "greeting: hello", "note: saved"} {
		if !strings.Contains(string(saved), s) {
			t.Fatalf("saved config lacks %q:\n%s", s, saved)
		}
	}
	if strings.Contains(string(saved), "evil") || strings.Contains(string(saved), "x.onion") {
		t.Fatalf("a client's pointer value was kept:\n%s", saved)
	}
}
