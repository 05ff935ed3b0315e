package install

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/s9pk"
)

// The developer key is pinned per package id at first install: an update
// signed by another key is refused, naming both fingerprints, unless the
// owner allows exactly that key. The pin outlives a soft uninstall (the
// data stays) and goes with a full one.
func TestPublisherPinning(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id := testID()
	otherKey, err := s9pk.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other := &testpkg.Builder{Engine: e.eng, Key: otherKey}
	byOther := func(version string) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), id+"-"+version+"-other.s9pk")
		m, err := other.Archive(ctx, p, testpkg.Options{ID: id, Version: version}, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		e.cleanupImages(m)
		return p
	}
	sideloadWith := func(path string, opts ...InstallOption) error {
		t.Helper()
		res, err := e.in.Sideload(ctx, opts...)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return e.in.Receive(ctx, res.Upload, bytes.NewReader(b), int64(len(b)))
	}
	pin := func() string {
		_, doc := e.store.Read()
		return doc.Private.PackageKeys[id]
	}
	ownFpr, otherFpr := KeyFingerprint(e.b.Key.Public().(ed25519.PublicKey)), KeyFingerprint(otherKey.Public().(ed25519.PublicKey))

	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	if got := pin(); got != ownFpr {
		t.Fatalf("pin after the first install %q, want %q", got, ownFpr)
	}
	evil := byOther("0.2.0")
	err = e.sideload(evil)
	if !errors.Is(err, errdefs.ErrInvalidSignature) || !strings.Contains(err.Error(), ownFpr) || !strings.Contains(err.Error(), otherFpr) {
		t.Fatalf("update by another key: %v", err)
	}
	if v := e.installedVersion(id); v != "0.1.0" {
		t.Fatalf("version after the refused update %s", v)
	}
	// Allowing some other key is not allowing this one.
	if err := sideloadWith(evil, AllowKeyChange("SHA256:something-else")); !errors.Is(err, errdefs.ErrInvalidSignature) {
		t.Fatalf("update with a mismatched allowKeyChange: %v", err)
	}
	if err := sideloadWith(evil, AllowKeyChange(otherFpr)); err != nil {
		t.Fatalf("update with the key change allowed: %v", err)
	}
	if v, got := e.installedVersion(id), pin(); v != "0.2.0" || got != otherFpr {
		t.Fatalf("after the allowed key change: version %s, pin %q", v, got)
	}

	// A soft uninstall keeps the data, so it keeps the pin.
	if err := e.in.Uninstall(ctx, id, true, false); err != nil {
		t.Fatal(err)
	}
	if err := e.sideload(e.pkg(testpkg.Options{ID: id, Version: "0.3.0"})); !errors.Is(err, errdefs.ErrInvalidSignature) {
		t.Fatalf("reinstall by the first key after a soft uninstall: %v", err)
	}
	if err := sideloadWith(byOther("0.3.0")); err != nil {
		t.Fatal(err)
	}
	if err := e.in.Uninstall(ctx, id, false, false); err != nil {
		t.Fatal(err)
	}
	if got := pin(); got != "" {
		t.Fatalf("pin after a full uninstall %q", got)
	}
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.4.0"}))
	if got := pin(); got != ownFpr {
		t.Errorf("pin after a fresh install %q", got)
	}
}
