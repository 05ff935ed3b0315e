package service

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
)

// mounts is the daemon's last word on bind-mount sources: it refuses
// hostile manifests built in code, past the parser, and symlinks planted in
// a volume.
func TestMountsConfined(t *testing.T) {
	data := t.TempDir()
	outside := t.TempDir()
	depVol := filepath.Join(data, "volumes", "dep", "main")
	if err := os.MkdirAll(filepath.Join(depVol, "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	// What a dependency's container can do inside its own volume.
	if err := os.Symlink(outside, filepath.Join(depVol, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../..", filepath.Join(depVol, "up")); err != nil {
		t.Fatal(err)
	}
	falsy := false
	mf := func(vols map[string]*manifest.Volume, deps ...string) *manifest.Manifest {
		m := &manifest.Manifest{ID: "pkg", Volumes: vols, Dependencies: map[string]*manifest.Dependency{}}
		for _, d := range deps {
			m.Dependencies[d] = &manifest.Dependency{}
		}
		return m
	}
	pointer := func(pkg, vol, path string) *manifest.Volume {
		return &manifest.Volume{Type: manifest.VolumePointer, PackageID: pkg, VolumeID: vol, Path: path}
	}
	for _, tc := range []struct {
		name     string
		m        *manifest.Manifest
		want     error
		contains string
	}{
		{"pointer volume-id climbs to /", mf(map[string]*manifest.Volume{"p": pointer("dep", "../../../../../../..", "/")}, "dep"), errdefs.ErrInvalidRequest, `invalid volume id "../../../../../../.."`},
		{"pointer package-id climbs", mf(map[string]*manifest.Volume{"p": pointer("..", "main", "/")}), errdefs.ErrInvalidRequest, `invalid package id ".."`},
		{"pointer path climbs", mf(map[string]*manifest.Volume{"p": pointer("dep", "main", "/../../..")}, "dep"), errdefs.ErrInvalidRequest, "must not contain .."},
		{"pointer to a package that is not a dependency", mf(map[string]*manifest.Volume{"p": pointer("dep", "main", "/")}), errdefs.ErrInvalidRequest, "dep is not a declared dependency"},
		{"pointer through a symlink out of the data dir", mf(map[string]*manifest.Volume{"p": pointer("dep", "main", "/escape")}, "dep"), errdefs.ErrInvalidRequest, "outside"},
		{"pointer through a relative symlink", mf(map[string]*manifest.Volume{"p": pointer("dep", "main", "/up")}, "dep"), errdefs.ErrInvalidRequest, "outside"},
		{"data volume id climbs", mf(map[string]*manifest.Volume{"../../x": {Type: manifest.VolumeData}}), errdefs.ErrInvalidRequest, "invalid volume id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var vol string
			for k := range tc.m.Volumes {
				vol = k
			}
			_, err := mounts(data, tc.m.ID, tc.m, map[string]string{vol: "/mnt"})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.contains)
			}
		})
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was created outside the data dir: %v", ents)
	}

	// A declared pointer is read-only unless readonly: false.
	m := mf(map[string]*manifest.Volume{"ro": pointer("dep", "main", "/shared"), "rw": pointer("dep", "main", "shared")}, "dep")
	m.Volumes["rw"].ReadOnly = &falsy
	got, err := mounts(data, "pkg", m, map[string]string{"ro": "/ro", "rw": "/rw"})
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(filepath.Join(depVol, "shared"))
	if len(got) != 2 || !got[0].ReadOnly || got[1].ReadOnly || got[0].Source != real || got[1].Source != real {
		t.Errorf("mounts %+v, want %s read-only then writable", got, real)
	}
}
