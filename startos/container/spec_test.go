package container

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
)

// Options that hand a container the host are refused before the engine
// sees them.
func TestCheckSpec(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Spec
		ok   bool
	}{
		{"package network", Spec{Network: "startos-x"}, true},
		{"no network", Spec{Network: "none"}, true},
		{"host network", Spec{Network: "host"}, false},
		{"another container's network", Spec{Network: "container:startos.x"}, false},
		{"volume folder", Spec{Mounts: []Mount{{Source: "/var/lib/startos/volumes/x/main", Target: "/data"}}}, true},
		{"host root", Spec{Mounts: []Mount{{Source: "/", Target: "/host"}}}, false},
		{"unclean source", Spec{Mounts: []Mount{{Source: "/var/lib/startos/volumes/x/../../../..", Target: "/data"}}}, false},
		{"relative source", Spec{Mounts: []Mount{{Source: "volumes/x", Target: "/data"}}}, false},
		{"relative target", Spec{Mounts: []Mount{{Source: "/srv/x", Target: "data"}}}, false},
	} {
		err := checkSpec(tc.s)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errdefs.ErrInvalidRequest)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// An image archive loses every name it carries before the engine sees it.
func TestStripNames(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for name, body := range map[string]string{
		"manifest.json":    `[{"Config":"blobs/sha256/abc","RepoTags":["start9/victim/main:1.0","debian:latest"],"Layers":["blobs/sha256/def"]}]`,
		"repositories":     `{"start9/victim/main":{"1.0":"abc"}}`,
		"index.json":       `{"schemaVersion":2,"manifests":[{"digest":"sha256:abc","annotations":{"io.containerd.image.name":"docker.io/start9/victim/main:1.0","org.opencontainers.image.ref.name":"1.0","keep":"me"}}]}`,
		"blobs/sha256/def": "layer",
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	var out bytes.Buffer
	if err := stripNames(&in, &out); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
	}
	if _, ok := got["repositories"]; ok {
		t.Error("repositories kept")
	}
	if s := got["manifest.json"]; strings.Contains(s, "victim") || strings.Contains(s, "debian") || !strings.Contains(s, `"Layers"`) {
		t.Errorf("manifest.json %s", s)
	}
	if s := got["index.json"]; strings.Contains(s, "victim") || strings.Contains(s, "ref.name") || !strings.Contains(s, `"keep":"me"`) {
		t.Errorf("index.json %s", s)
	}
	if got["blobs/sha256/def"] != "layer" {
		t.Errorf("layer %q", got["blobs/sha256/def"])
	}
}
