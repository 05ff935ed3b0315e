package hostpath

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
)

func TestCheckID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"bitcoind", true}, {"hello-world2", true}, {"", false}, {"..", false}, {"../x", false}, {"a/b", false},
		{"Main", false}, {"a--b", false}, {"-a", false}, {"a\x00", false}, {string(make([]byte, 65)), false},
	} {
		if err := CheckID("volume id", tc.id); (err == nil) != tc.ok || (err != nil && !errors.Is(err, errdefs.ErrInvalidRequest)) {
			t.Errorf("%q: %v", tc.id, err)
		}
	}
}

func TestCheckSubPath(t *testing.T) {
	for _, tc := range []struct {
		p  string
		ok bool
	}{
		{"", true}, {"/", true}, {"/data/x", true}, {"a..b", true},
		{"..", false}, {"/a/../..", false}, {"a\\..\\b", false}, {"a\nb", false},
	} {
		if err := CheckSubPath("t", tc.p); (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.p, err)
		}
	}
}

func TestResolve(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(root, "a", "b"), 0o755)
	os.Symlink(out, filepath.Join(root, "a", "out"))
	os.Symlink("b", filepath.Join(root, "a", "in"))
	if _, err := Resolve(root, filepath.Join(root, "a", "out")); !errors.Is(err, ErrEscape) {
		t.Errorf("symlink out: %v", err)
	}
	if p, err := Resolve(root, filepath.Join(root, "a", "in")); err != nil || filepath.Base(p) != "b" {
		t.Errorf("symlink in: %s %v", p, err)
	}
	if !Within("/a", "/a") || !Within("/a", "/a/b") || Within("/a", "/ab") || Within("/a/b", "/a") {
		t.Error("Within")
	}
}
