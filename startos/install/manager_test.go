package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/service"
)

// With the real service manager: a sideloaded package runs, an update runs
// its migration through RunProcedure and runs again, and an uninstall
// leaves no container.
func TestWithServiceManager(t *testing.T) {
	e := newEnv(t, nil)
	mgr, err := service.New(service.Options{Store: e.store, Engine: e.eng, DataDir: e.dataDir, HealthGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.in.Close()
	e.opts.Services = mgr
	in, err := New(context.Background(), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	e.in = in
	id := testID()
	name := "startos." + id
	t.Cleanup(func() {
		e.in.Close()
		mgr.Release(context.Background(), id)
		mgr.Close()
	})

	running := func() bool {
		st, err := e.eng.InspectContainer(context.Background(), name)
		return err == nil && st.Running
	}
	waitRunning := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !running() {
			if time.Now().After(deadline) {
				p, _ := e.entry(id)
				t.Fatalf("container %s not running; status %+v", name, p.StatusInfo)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	waitRunning()
	state := filepath.Join(e.dataDir, "volumes", id, "main", "state.txt")
	os.WriteFile(state, []byte("v1\n"), 0o644)

	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.2.0", MigrationFrom: "<0.2.0"}))
	if v := e.installedVersion(id); v != "0.2.0" {
		t.Errorf("version %s", v)
	}
	if b, _ := os.ReadFile(state); string(b) != "v1\nmigrated from \"0.1.0\"\n" {
		t.Errorf("state after the migration %q", b)
	}
	waitRunning()

	if err := e.in.Uninstall(context.Background(), id, false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.InspectContainer(context.Background(), name); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("container after uninstall: %v", err)
	}
	e.assertPristine(id, "0.2.0")
}
