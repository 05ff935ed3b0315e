package main

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/registry"
	"github.com/startos-go/startos/startos/s9pk"
)

// TestRegistryCommands drives registry add/list/refresh/remove and package
// search and updates against a registry folder served on loopback (the
// archive's image is a stand-in: nothing is installed here; the market's
// end-to-end test installs through the same calls).
func TestRegistryCommands(t *testing.T) {
	d := testdaemon.StartWith(t, "", func(c *startos.Config) { c.AllowLocalDownloads = true; c.RegistryRefresh = -1 })
	jarPath = filepath.Join(t.TempDir(), "cookies.json")
	authCookie, stdinFile = "", nil
	sock := []string{"--socket", d.Sock}

	dev, _ := s9pk.GenerateKey()
	regKey, _ := s9pk.GenerateKey()
	dir := t.TempDir()
	pkg := filepath.Join(dir, "hello.s9pk")
	if _, err := (&testpkg.Builder{Key: dev}).Archive(context.Background(), pkg, testpkg.Options{ID: "hello-cli", Version: "1.0.0"}, []byte("image"), manifest.HostArch()); err != nil {
		t.Fatal(err)
	}
	f := &registry.Folder{Dir: filepath.Join(dir, "www"), Key: regKey}
	if err := f.Init("cli"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Publish(pkg, registry.PublishOptions{Categories: []string{"tools"}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(f.Dir)))
	defer srv.Close()
	fp := registry.Fingerprint(regKey.Public().(ed25519.PublicKey))

	if code, _, errs := cmd(t, append(sock, "registry", "add", srv.URL, "--fingerprint", "SHA256:wrong")...); code == 0 || !strings.Contains(errs, "not the fingerprint given") {
		t.Errorf("add with a wrong fingerprint: %d %s", code, errs)
	}
	if code, out, errs := cmd(t, append(sock, "registry", "add", srv.URL)...); code != 0 || !strings.Contains(out, fp) {
		t.Fatalf("registry add: %d %s %s (want %s)", code, out, errs, fp)
	}
	if code, out, errs := cmd(t, append(sock, "registry", "list")...); code != 0 || !strings.Contains(out, srv.URL) || !strings.Contains(out, fp) {
		t.Errorf("registry list: %d %s %s", code, out, errs)
	}
	if code, out, errs := cmd(t, append(sock, "package", "search", "hello")...); code != 0 || !strings.Contains(out, "hello-cli") {
		t.Errorf("package search: %d %s %s", code, out, errs)
	}
	if code, out, _ := cmd(t, append(sock, "package", "search", "no-such-thing")...); code != 0 || strings.Contains(out, "hello-cli") {
		t.Errorf("search for nothing: %d %s", code, out)
	}
	if code, out, errs := cmd(t, append(sock, "marketplace", "get", srv.URL+"/package/v0/latest?ids=[\"hello-cli\"]")...); code != 0 || !strings.Contains(out, "hello-cli") || !strings.Contains(out, "1.0.0") {
		t.Errorf("marketplace get latest: %d %s %s", code, out, errs)
	}
	if code, _, errs := cmd(t, append(sock, "marketplace", "get", srv.URL+"/package/v0/icon/hello-cli")...); code == 0 || !strings.Contains(errs, "holds no icon") {
		t.Errorf("marketplace get icon: %d %s", code, errs)
	}
	if code, _, errs := cmd(t, append(sock, "package", "install", "hello-cli@>=2.0.0")...); code == 0 || !strings.Contains(errs, "no version >=2.0.0") {
		t.Errorf("install of a range the registry lacks: %d %s", code, errs)
	}
	if code, out, errs := cmd(t, append(sock, "package", "update", "--all")...); code != 0 || !strings.Contains(out, "no updates on offer") {
		t.Errorf("update --all: %d %s %s", code, out, errs)
	}
	if code, _, errs := cmd(t, append(sock, "registry", "refresh")...); code != 0 {
		t.Errorf("registry refresh: %d %s", code, errs)
	}
	if code, _, errs := cmd(t, append(sock, "registry", "remove", srv.URL)...); code != 0 {
		t.Errorf("registry remove: %d %s", code, errs)
	}
	if code, out, _ := cmd(t, append(sock, "registry", "list")...); code != 0 || strings.Contains(out, srv.URL) {
		t.Errorf("list after remove: %s", out)
	}
}
