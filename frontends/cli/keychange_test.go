package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/s9pk"
)

// An update signed by another developer key is refused through start-cli
// with both fingerprints shown, and goes through with --allow-key-change
// and the new fingerprint.
func TestKeyChangeThroughCLI(t *testing.T) {
	eng := testpkg.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := testpkg.RandomID()
	t.Cleanup(func() { testpkg.Sweep(eng, id) })
	archive := func(version string) (string, ed25519.PublicKey) {
		t.Helper()
		key, err := s9pk.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), id+"-"+version+".s9pk")
		if _, err := (&testpkg.Builder{Engine: eng, Key: key}).Archive(ctx, p, testpkg.Options{ID: id, Version: version}, nil, ""); err != nil {
			t.Fatal(err)
		}
		return p, key.Public().(ed25519.PublicKey)
	}
	fingerprint := func(pub ed25519.PublicKey) string {
		sum := sha256.Sum256(pub)
		return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	}
	first, firstKey := archive("0.1.0")
	update, updateKey := archive("0.2.0")

	d := startDaemon(t)
	sock := []string{"--socket", d.sock}
	if code, out, errs := cmd(t, append(sock, "package", "install", "--quiet", first)...); code != 0 {
		t.Fatalf("install: %d %q %q", code, out, errs)
	}
	code, _, errs := cmd(t, append(sock, "package", "install", "--quiet", update)...)
	if code == 0 || !strings.Contains(errs, fingerprint(firstKey)) || !strings.Contains(errs, fingerprint(updateKey)) {
		t.Fatalf("update by another key: exit %d, stderr %q", code, errs)
	}
	if code, out, errs := cmd(t, append(sock, "package", "install", "--quiet", "--allow-key-change", fingerprint(updateKey), update)...); code != 0 {
		t.Fatalf("update with the key change allowed: %d %q %q", code, out, errs)
	}
	if code, out, _ := cmd(t, append(sock, "package", "list")...); code != 0 || !strings.Contains(out, "0.2.0") {
		t.Fatalf("package list after the update:\n%s", out)
	}
	if code, out, errs := cmd(t, append(sock, "package", "uninstall", "--yes", id)...); code != 0 {
		t.Fatalf("uninstall: %d %q %q", code, out, errs)
	}
}
