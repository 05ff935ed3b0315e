package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// TestMarketplaceInTmux publishes a real package with start-sdk into a
// folder served on loopback, adds the registry to a real startd, and drives
// the Marketplace tab in tmux: install by id, then an update marked in
// Services and in the Marketplace after a new version is published, applied
// with update-all.
func TestMarketplaceInTmux(t *testing.T) {
	requireTools(t, "tmux")
	eng := testpkg.Engine(t)
	id := testpkg.RandomID()
	home := t.TempDir()
	archives := map[string]string{}
	for _, v := range []string{"0.1.0", "0.2.0"} {
		p := testpkg.Build(t, eng, testpkg.Options{ID: id, Version: v})
		archives[v] = filepath.Join(home, id+"-"+v+".s9pk")
		p.WriteArchive(t, archives[v])
	}
	bins := t.TempDir()
	tui := goBuild(t, bins, "start-tui", ".")
	startdBin := goBuild(t, bins, "startd", "../daemon")
	sdk := goBuild(t, bins, "start-sdk", "../sdk")
	www := filepath.Join(home, "www")
	runSDK := func(args ...string) {
		cmd := exec.Command(sdk, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "STARTOS_REGISTRY_KEY_PATH=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("start-sdk %v: %v\n%s", args, err, out)
		}
	}
	runSDK("index", "init", www)
	runSDK("publish", archives["0.1.0"], "--index", www, "--category", "testing")
	srv := httptest.NewServer(http.FileServer(http.Dir(www)))
	defer srv.Close()

	d := testdaemon.RunStartd(t, startdBin, t.TempDir(), "--allow-local-downloads", "--registry-refresh", "off")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+d.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(ctx, "setup.execute", model.SetupParams{Password: "correct horse", Name: "Market Box"}, nil); err != nil {
		t.Fatal(err)
	}
	var added model.RegistryAddResult
	if err := c.Call(ctx, "registry.add", model.RegistryAddParams{URL: srv.URL}, &added); err != nil {
		t.Fatal(err)
	}

	s := startTUI(t, "market", tui, d.Sock, 110, 30)
	s.waitScreen("Market Box", "● live")
	s.keys("6")
	s.waitScreen("[6 Marketplace]", "Test Package", "0.1.0", "Category: all")
	s.keys("Enter")
	s.waitScreen("Release notes", "Registry: "+srv.URL)
	s.keys("i")
	// The install runs; Services shows it, then the marketplace row says installed.
	s.keys("2")
	s.waitScreenFor(2*time.Minute, "[2 Services (1)]", "Test Package", "running")
	s.keys("6")
	s.waitScreen("Installed: 0.1.0") // the details page is still open
	s.keys("Escape")
	s.waitScreen("Test Package", "installed")

	// A new version published and the registry refreshed: marked in both views.
	runSDK("publish", archives["0.2.0"], "--index", www, "--category", "testing")
	if err := c.Call(ctx, "registry.refresh", model.RegistryRefreshParams{}, nil); err != nil {
		t.Fatal(err)
	}
	s.keys("2")
	s.waitScreen("0.1.0 ↑")
	s.keys("6")
	shot := s.waitScreen("↑ update 0.1.0 → 0.2.0")
	if dir := os.Getenv("STARTOS_TUI_SCREENSHOTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, "marketplace.txt"), []byte(shot), 0o644)
	}
	s.keys("U")
	s.keys("2")
	s.waitScreenFor(2*time.Minute, "Test Package", "0.2.0", "running")
	var ver string
	if err := c.Call(ctx, "package.installed-version", model.PackageIDParams{ID: id}, &ver); err != nil || ver != "0.2.0" {
		t.Fatalf("installed version after update-all: %q %v", ver, err)
	}
	if sc := s.screen(); strings.Contains(sc, "0.1.0 ↑") || strings.Contains(sc, "0.2.0 ↑") {
		t.Errorf("still marked updatable after the update:\n%s", s.screen())
	}
}
