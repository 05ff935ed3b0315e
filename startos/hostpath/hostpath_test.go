package hostpath

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
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

// CheckManifest is the daemon's own pass over a manifest built in code.
func TestCheckManifest(t *testing.T) {
	ok := func() *manifest.Manifest {
		return &manifest.Manifest{ID: "pkg",
			Volumes:      map[string]*manifest.Volume{"main": {Type: manifest.VolumeData}, "p": {Type: manifest.VolumePointer, PackageID: "dep", VolumeID: "main", Path: "/x"}},
			Interfaces:   map[string]*manifest.Interface{"main": {}},
			Dependencies: map[string]*manifest.Dependency{"dep": {}}}
	}
	if err := CheckManifest(ok()); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(m *manifest.Manifest){
		"package id":            func(m *manifest.Manifest) { m.ID = "../pkg" },
		"image id":              func(m *manifest.Manifest) { m.Images = map[string]*manifest.ImageSpec{"a/b": nil} },
		"volume id":             func(m *manifest.Manifest) { m.Volumes["../v"] = &manifest.Volume{Type: manifest.VolumeData} },
		"interface id":          func(m *manifest.Manifest) { m.Interfaces["Main Web"] = nil },
		"dependency id":         func(m *manifest.Manifest) { m.Dependencies["../dep"] = nil },
		"pointer volume id":     func(m *manifest.Manifest) { m.Volumes["p"].VolumeID = "../../.." },
		"pointer path":          func(m *manifest.Manifest) { m.Volumes["p"].Path = "/../.." },
		"pointer to itself":     func(m *manifest.Manifest) { m.Volumes["p"].PackageID = "pkg" },
		"pointer not declared":  func(m *manifest.Manifest) { delete(m.Dependencies, "dep") },
		"pointer package empty": func(m *manifest.Manifest) { m.Volumes["p"].PackageID = "" },
	} {
		m := ok()
		edit(m)
		if err := CheckManifest(m); !errors.Is(err, errdefs.ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
