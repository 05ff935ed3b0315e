// Package deptest enforces the dependency arrows of DESIGN.md with go list.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/startos-go/startos"

const clientOnly = "a frontend speaks the RPC surface through package rpc (client and wire types); the server and the library root are the daemon's"

// rules: packages (patterns relative to the module) and the import path
// prefixes they must never link, directly or not.
var rules = []struct {
	pkgs   string
	banned []string
	why    string
}{
	{"./startos/...", []string{module + "/rpc", module + "/frontends", "github.com/urfave/cli", "github.com/charmbracelet", "github.com/sourcegraph/jsonrpc2", "github.com/coder/websocket"},
		"the library imports no transport or UI package"},
	{"./rpc", []string{"go.etcd.io/bbolt", "github.com/docker/docker", "github.com/charmbracelet", "github.com/urfave/cli", module + "/frontends",
		module + "/rpc/server", module + "/startos$"},
		"the client and wire room links neither the server, the library root, storage, Docker nor UI"},
	{"./frontends/cli/...", []string{module + "/rpc/server", module + "/startos$"}, clientOnly},
	{"./frontends/tui/...", []string{module + "/rpc/server", module + "/startos$"}, clientOnly},
	{"./frontends/sdk/...", []string{module + "/rpc/server", module + "/startos$"}, clientOnly},
	{"./frontends/web/...", []string{module + "/rpc/server", module + "/startos$"}, clientOnly},
	{"./frontends/cli", []string{"go.etcd.io/bbolt", "github.com/docker/docker", "github.com/charmbracelet", module + "/startos/db", module + "/startos/container"},
		"start-cli is a client: no storage, no Docker, no bubbletea (it probes the terminal at init)"},
	{"./frontends/tui", []string{"go.etcd.io/bbolt", "github.com/docker/docker", module + "/startos/db", module + "/startos/container"},
		"start-tui is a client"},
	{"./internal/bench", []string{"github.com/charmbracelet"},
		"the bench binary runs start-tui's benchmark in its own process"},
	{"./frontends/sdk", []string{"go.etcd.io/bbolt", "github.com/charmbracelet", module + "/rpc"},
		"start-sdk packs files; it needs no state store or RPC"},
	{"./startos/manifest", []string{"github.com/docker/docker", "go.etcd.io/bbolt"}, "manifests are pure"},
	{"./startos/s9pk", []string{"github.com/docker/docker", "go.etcd.io/bbolt"}, "the archive format is pure"},
	{"./frontends/daemon", []string{"github.com/charmbracelet"},
		"only start-tui links bubbletea"},
	{"./startos/patch", []string{"go.etcd.io/bbolt", "github.com/docker/docker"}, "clients link the patch code"},
	{"./frontends/web", []string{module + "/startos", module + "/rpc", "github.com/chromedp", "go.etcd.io/bbolt", "github.com/docker/docker"},
		"the web UI is static files; it reaches the library only through the public RPC surface"},
}

// TestModelIsStandardLibraryOnly: every client links model.
func TestModelIsStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "../../startos/model").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, d := range strings.Fields(string(out)) {
		if d != module+"/startos/model" {
			t.Errorf("startos/model links %s; it may use the standard library only", d)
		}
	}
}

func TestDependencyRules(t *testing.T) {
	for _, r := range rules {
		t.Run(r.pkgs, func(t *testing.T) { checkBanned(t, r.pkgs, r.banned, r.why) })
	}
}

// checkBanned fails t for every package pkgs links (go list -deps) that is
// one of banned or below one of them; a banned entry ending in "/" is a
// bare prefix, one ending in "$" that package only.
func checkBanned(t *testing.T, pkgs string, banned []string, why string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../../"+strings.TrimPrefix(pkgs, "./")).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkgs, err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatalf("go list %s printed nothing", pkgs)
	}
	for _, d := range deps {
		for _, b := range banned {
			if exact, ok := strings.CutSuffix(b, "$"); ok {
				if d == exact {
					t.Errorf("%s links %s: %s", pkgs, d, why)
				}
				continue
			}
			if d == b || strings.HasPrefix(d, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(d, b)) {
				t.Errorf("%s links %s: %s", pkgs, d, why)
			}
		}
	}
}

// TestFrontendTestsUseTheHarness: frontend tests start a daemon through
// internal/testdaemon and talk to it as a client would; none imports the
// server's internals.
func TestFrontendTestsUseTheHarness(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "../../frontends/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if imp == module+"/rpc/server" && f[0] != module+"/frontends/daemon" {
				t.Errorf("tests of %s import rpc/server; use internal/testdaemon", f[0])
			}
		}
	}
}
