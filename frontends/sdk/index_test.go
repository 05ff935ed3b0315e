package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/registry"
	"github.com/startos-go/startos/startos/s9pk"
)

func TestIndexPublishVerify(t *testing.T) {
	h := home(t)
	t.Setenv("STARTOS_REGISTRY_KEY_PATH", "")
	dir := filepath.Join(h, "www")
	dev, err := s9pk.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	archive := func(version string) string {
		p := filepath.Join(h, "hello-"+version+".s9pk")
		b := &testpkg.Builder{Key: dev}
		if _, err := b.Archive(context.Background(), p, testpkg.Options{ID: "hello", Version: version}, []byte("image"), "x86_64"); err != nil {
			t.Fatal(err)
		}
		return p
	}
	r := startSDK(t, "index", "init", dir, "--name", "Test", "--format", "json")
	if r.code != 0 {
		t.Fatalf("index init: %d %s", r.code, r.stderr)
	}
	var initOut struct{ Fingerprint string }
	if err := json.Unmarshal([]byte(r.stdout), &initOut); err != nil || !strings.HasPrefix(initOut.Fingerprint, "SHA256:") {
		t.Fatalf("index init printed %q", r.stdout)
	}
	if st, err := os.Stat(filepath.Join(h, ".startos", "registry.key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("registry key: %v %v", st, err)
	}
	if r := startSDK(t, "index", "init", dir); r.code == 0 {
		t.Error("a second index init over an existing index succeeded")
	}
	for _, v := range []string{"0.1.0", "0.2.0"} {
		if r := startSDK(t, "publish", archive(v), "--index", dir, "--category", "tools"); r.code != 0 {
			t.Fatalf("publish %s: %d %s", v, r.code, r.stderr)
		}
	}
	r = startSDK(t, "index", "verify", dir, "--fingerprint", initOut.Fingerprint, "--format", "json")
	if r.code != 0 {
		t.Fatalf("index verify: %d %s", r.code, r.stderr)
	}
	var rep indexReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Packages != 1 || rep.Versions != 2 || rep.Archives != 2 || rep.Sequence != 3 {
		t.Fatalf("verify report %q (%v)", r.stdout, err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	if r := startSDK(t, "index", "verify", srv.URL); r.code != 0 || !strings.Contains(r.stdout, "2 versions") {
		t.Fatalf("index verify URL: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := startSDK(t, "index", "verify", dir, "--fingerprint", "SHA256:other"); r.code == 0 || !strings.Contains(r.stderr, "not SHA256:other") {
		t.Errorf("verify with another fingerprint: %d %s", r.code, r.stderr)
	}
	// An archive swapped on the server is caught by a folder verify.
	swapped := filepath.Join(dir, "packages", "hello", "0.2.0", "hello.s9pk")
	data, _ := os.ReadFile(archive("0.1.0"))
	if err := os.WriteFile(swapped, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := startSDK(t, "index", "verify", dir); r.code == 0 || !strings.Contains(r.stderr, "differs from its index entry") {
		t.Errorf("verify of a swapped archive: %d %s", r.code, r.stderr)
	}
	// A tampered index is refused.
	idx := filepath.Join(dir, registry.IndexFile)
	b, _ := os.ReadFile(idx)
	os.WriteFile(idx, []byte(strings.Replace(string(b), "tools", "toolz", 1)), 0o644)
	if r := startSDK(t, "index", "verify", dir); r.code == 0 || !strings.Contains(r.stderr, "signature does not match") {
		t.Errorf("verify of a tampered index: %d %s", r.code, r.stderr)
	}
	if r := startSDK(t, "publish", archive("0.3.0"), "--index", dir); r.code == 0 {
		t.Error("publish onto a tampered index succeeded")
	}
	if r := startSDK(t, "index", "init", filepath.Join(h, "w2"), "--registry-key-path", filepath.Join(h, "w2", "k.pem")); r.code == 0 || !strings.Contains(r.stderr, "inside the served folder") {
		t.Errorf("a key inside the served folder: %d %s", r.code, r.stderr)
	}
}
