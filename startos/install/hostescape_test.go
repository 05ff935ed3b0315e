package install

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/s9pk"
	"github.com/startos-go/startos/startos/service"
)

// withManager replaces the recording services of e with the real service
// manager, so installs create real containers.
func withManager(t *testing.T, e *env) *service.Manager {
	t.Helper()
	mgr, err := service.New(service.Options{Store: e.store, Engine: e.eng, DataDir: e.dataDir, HealthGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.in.Close()
	e.opts.Services = mgr
	if e.in, err = New(context.Background(), e.opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.in.Close()
		mgr.Close()
	})
	return mgr
}

// craftArchive writes a signed archive whose manifest.json is mjson as it
// is, past every check WritePackage makes: what an attacker with a
// developer key can produce.
func craftArchive(t *testing.T, e *env, path string, mjson, image []byte) {
	t.Helper()
	b := s9pk.NewBuilder()
	for p, body := range map[string][]byte{
		s9pk.ManifestPath: mjson, "icon.png": []byte("\x89PNG\r\n\x1a\n"), s9pk.LicensePath: []byte("MIT\n"),
		s9pk.InstructionsPath: []byte("# x\n"), s9pk.ImagesDir + "/" + manifest.HostArch() + "/main.tar": image,
	} {
		if err := b.Add(p, s9pk.BytesSource(body)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := b.WriteTo(f, e.b.Key); err != nil {
		t.Fatal(err)
	}
}

// A package cannot reach the host through a volume: the pointer volume of
// issue 11 (volume-id ../../.., path /) is refused by the parser, and the
// same manifest in a hand-made archive is refused by the daemon; a symlink
// planted in a dependency's volume does not carry a mount out of the data
// dir; a pointer is read-only, so the container cannot write through it.
func TestHostEscapeRefused(t *testing.T) {
	e := newEnv(t, nil)
	mgr := withManager(t, e)
	ctx := context.Background()
	dep := testID()
	t.Cleanup(func() { mgr.Release(context.Background(), dep) })
	e.mustSideload(e.pkg(testpkg.Options{ID: dep, Version: "0.1.0"}))
	outside := t.TempDir() // stands for the host's /
	assertOutsideUntouched := func() {
		t.Helper()
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Fatalf("the package wrote outside the data dir: %v", ents)
		}
	}

	escape := testpkg.Options{ID: testID(), Version: "0.1.0", Requires: map[string]string{dep: ">=0.1.0"},
		Volumes: map[string]string{"host": `{type: pointer, package-id: ` + dep + `, volume-id: "../../../../../../..", path: /}`},
		Mounts:  map[string]string{"host": "/host"}}
	if _, err := testpkg.NewManifest(escape); err == nil || !strings.Contains(err.Error(), "volumes.host.volume-id: invalid volume id") {
		t.Fatalf("the manifest parser took the escaping pointer: %v", err)
	}

	// The same manifest, written into an archive by hand.
	escape.Volumes["host"] = `{type: pointer, package-id: ` + dep + `, volume-id: main, path: /}`
	mf, err := testpkg.NewManifest(escape)
	if err != nil {
		t.Fatal(err)
	}
	mf.Volumes["host"].VolumeID = "../../../../../../.." + outside
	mjson, err := mf.MarshalArchived()
	if err != nil {
		t.Fatal(err)
	}
	img, err := e.b.Image(ctx, escape)
	if err != nil {
		t.Fatal(err)
	}
	crafted := filepath.Join(t.TempDir(), "crafted.s9pk")
	craftArchive(t, e, crafted, mjson, img)
	if err := e.sideload(crafted); !errors.Is(err, errdefs.ErrParseS9pk) || !strings.Contains(err.Error(), "volume-id: invalid volume id") {
		t.Fatalf("crafted archive: %v", err)
	}
	if _, ok := e.entry(escape.ID); ok {
		t.Fatal("the crafted archive left an entry")
	}
	assertOutsideUntouched()

	// A symlink in the dependency's volume (its container can make one)
	// pointing out of the data dir.
	if err := os.Symlink(outside, filepath.Join(e.dataDir, "volumes", dep, "main", "escape")); err != nil {
		t.Fatal(err)
	}
	viaLink := testpkg.Options{ID: testID(), Version: "0.1.0", Requires: map[string]string{dep: ">=0.1.0"},
		Volumes: map[string]string{"shared": `{type: pointer, package-id: ` + dep + `, volume-id: main, path: /escape, readonly: false}`},
		Mounts:  map[string]string{"shared": "/shared"}}
	t.Cleanup(func() { mgr.Release(context.Background(), viaLink.ID) })
	err = e.sideload(e.pkg(viaLink))
	if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("pointer through a symlink: %v", err)
	}
	if _, err := e.eng.InspectContainer(ctx, service.ContainerName(viaLink.ID)); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("a container exists for the refused package: %v", err)
	}
	if _, ok := e.entry(viaLink.ID); ok {
		t.Error("the refused package left an entry")
	}
	assertOutsideUntouched()

	// A declared pointer without readonly: the container reads, cannot write.
	if err := os.WriteFile(filepath.Join(e.dataDir, "volumes", dep, "main", "hello.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	reader := testpkg.Options{ID: testID(), Version: "0.1.0", Requires: map[string]string{dep: ">=0.1.0"},
		Volumes: map[string]string{"shared": `{type: pointer, package-id: ` + dep + `, volume-id: main, path: /}`},
		Mounts:  map[string]string{"shared": "/shared"}}
	t.Cleanup(func() { mgr.Release(context.Background(), reader.ID) })
	e.mustSideload(e.pkg(reader))
	rmf, err := e.installedManifest(reader.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w := rmf.Volumes["shared"].Writable(); w {
		t.Fatal("the pointer is writable without readonly: false")
	}
	p := manifest.Procedure{Type: manifest.ProcedureDocker, Image: manifest.MainImage, Entrypoint: "/app",
		Args: []string{"write", "/shared/hello.txt"}, Mounts: map[string]string{"shared": "/shared"}}
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = mgr.RunProcedure(pctx, reader.ID, rmf, p, nil)
	var perr *service.ProcedureError
	if !errors.As(err, &perr) || perr.ExitCode != 4 || !strings.Contains(perr.Stderr, "read-only file system") {
		t.Errorf("writing through the pointer: %v; want exit 4, read-only file system", err)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dataDir, "volumes", dep, "main", "hello.txt")); string(b) != "hi" {
		t.Errorf("the dependency's file is now %q", b)
	}
	assertOutsideUntouched()
}

func (e *env) installedManifest(id string) (*manifest.Manifest, error) {
	p, ok := e.entry(id)
	if !ok {
		return nil, errors.New("not installed")
	}
	m, _, err := manifest.ParseArchived(json.RawMessage(p.StateInfo.Manifest))
	return m, err
}
