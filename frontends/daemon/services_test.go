package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/model"
)

// box is one startd on a data dir, reached through its unix socket.
type box struct {
	t    *testing.T
	bin  string
	data string
	proc *proc
	c    *rpc.Client
}

func (b *box) start() {
	b.t.Helper()
	b.proc = startStartd(b.t, b.bin, b.data)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+filepath.Join(b.data, "run", "rpc.sock"), rpc.ClientOptions{})
	if err != nil {
		b.t.Fatal(err)
	}
	b.c = c
	b.t.Cleanup(func() { c.Close() })
}

// kill ends startd with SIGKILL: no shutdown code runs.
func (b *box) kill() {
	b.t.Helper()
	b.c.Close()
	if err := b.proc.Cmd.Process.Kill(); err != nil {
		b.t.Fatal(err)
	}
	b.proc.Cmd.Wait()
}

// sideload installs the package file at path: package.sideload, then the
// bytes to the upload id; the upload answers when the install has ended.
func (b *box) sideload(ctx context.Context, path string) {
	b.t.Helper()
	res, err := rpc.Call[model.SideloadResult](ctx, b.c, "package.sideload", nil)
	if err != nil {
		b.t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if err := b.c.Upload(ctx, res.Upload, f, st.Size()); err != nil {
		b.t.Fatalf("upload of %s: %v", filepath.Base(path), err)
	}
}

// waitRunningHealthy polls package.list until id runs version with its
// health check passing.
func (b *box) waitRunningHealthy(ctx context.Context, id, version string) model.PackageSummary {
	b.t.Helper()
	var last []model.PackageSummary
	for {
		list, err := rpc.Call[[]model.PackageSummary](ctx, b.c, "package.list", nil)
		if err == nil {
			last = list
			for _, p := range list {
				if p.ID == id && p.Version == version && p.Primary == model.DesiredRunning && p.Health == model.HealthSuccess {
					return p
				}
			}
		}
		select {
		case <-ctx.Done():
			b.t.Fatalf("%s %s never ran healthy (last error %v): %+v", id, version, err, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestServiceSurvivesKillUpdateUninstall: the real startd and a real test
// package on the real engine. Install through the socket, running and
// healthy; SIGKILL startd and start it again on the same data dir: the
// package comes back running and healthy; an update with a migration keeps
// the data and migrates it; uninstall leaves no container, image, archive
// or volume folder.
func TestServiceSurvivesKillUpdateUninstall(t *testing.T) {
	eng := testpkg.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	port := testpkg.FreePort(t)
	v1 := testpkg.Build(t, eng, testpkg.Options{Port: port})
	id := v1.Manifest.ID
	v2 := testpkg.Build(t, eng, testpkg.Options{ID: id, Version: "0.2.0", Port: port, MigrationFrom: "<0.2.0"})
	files := t.TempDir()
	v1File, v2File := filepath.Join(files, "v1.s9pk"), filepath.Join(files, "v2.s9pk")
	v1.WriteArchive(t, v1File)
	v2.WriteArchive(t, v2File)
	// The daemon must load the images from the archives, not find them.
	for _, tag := range []string{v1.Tag, v2.Tag} {
		if err := eng.Remove(ctx, tag, true); err != nil {
			t.Fatal(err)
		}
	}

	b := &box{t: t, bin: buildStartd(t), data: t.TempDir()}
	b.start()

	t.Log("install through the socket")
	b.sideload(ctx, v1File)
	b.waitRunningHealthy(ctx, id, "0.1.0")
	before := onlyContainer(t, eng, id)
	volume := filepath.Join(b.data, "volumes", id, "main")
	if err := os.WriteFile(filepath.Join(volume, "state.txt"), []byte("v1 data\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Log("SIGKILL startd, start it again on the same data dir")
	b.kill()
	b.start()
	b.waitRunningHealthy(ctx, id, "0.1.0")
	after := onlyContainer(t, eng, id)
	// startd's boot reconcile adopts a container that is still there: the
	// same container, not restarted (the engine kept it running while
	// startd was dead).
	if after.ID != before.ID {
		t.Errorf("container recreated across the restart: %s then %s", before.ID, after.ID)
	}
	if !after.StartedAt.Equal(before.StartedAt) {
		t.Errorf("container restarted across the daemon restart: started %s then %s", before.StartedAt, after.StartedAt)
	}

	t.Log("update to 0.2.0 with a migration")
	b.sideload(ctx, v2File)
	b.waitRunningHealthy(ctx, id, "0.2.0")
	v, err := rpc.Call[string](ctx, b.c, "package.installed-version", model.PackageIDParams{ID: id})
	if err != nil || v != "0.2.0" {
		t.Errorf("installed version %q, %v", v, err)
	}
	state, err := os.ReadFile(filepath.Join(volume, "state.txt"))
	if err != nil || !strings.HasPrefix(string(state), "v1 data\nmigrated from ") {
		t.Errorf("volume after the migration: %q, %v", state, err)
	}
	if updated := onlyContainer(t, eng, id); updated.ID == after.ID {
		t.Error("the update kept the 0.1.0 container")
	}
	if _, err := eng.Inspect(ctx, v1.Tag); err == nil {
		t.Errorf("image %s left after the update", v1.Tag)
	}

	t.Log("uninstall")
	if err := b.c.Call(ctx, "package.uninstall", map[string]any{"id": id}, nil); err != nil {
		t.Fatal(err)
	}
	list, err := rpc.Call[[]model.PackageSummary](ctx, b.c, "package.list", nil)
	if err != nil || len(list) != 0 {
		t.Errorf("package.list after uninstall: %+v, %v", list, err)
	}
	if cs, err := eng.ListContainers(ctx, testpkg.Label+"="+id); err != nil || len(cs) != 0 {
		t.Errorf("containers after uninstall: %+v, %v", cs, err)
	}
	for _, tag := range []string{v1.Tag, v2.Tag} {
		if _, err := eng.Inspect(ctx, tag); err == nil {
			t.Errorf("image %s left after uninstall", tag)
		}
	}
	for _, p := range []string{filepath.Join(b.data, "packages", id+".s9pk"), filepath.Join(b.data, "volumes", id)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after uninstall (%v)", p, err)
		}
	}
}

// onlyContainer inspects the one container labelled with package id.
func onlyContainer(t *testing.T, eng *container.Client, id string) container.ContainerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := eng.ListContainers(ctx, testpkg.Label+"="+id)
	if err != nil || len(cs) != 1 {
		t.Fatalf("containers of %s: %+v, %v", id, cs, err)
	}
	st, err := eng.InspectContainer(ctx, cs[0].ID)
	if err != nil || !st.Running || st.StartedAt.IsZero() {
		t.Fatalf("container of %s: %+v, %v", id, st, err)
	}
	return st
}
