package service

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// exists reports whether the engine still has container ref.
func containerExists(t *testing.T, e *env, ref string) bool {
	t.Helper()
	_, err := e.engine.InspectContainer(context.Background(), ref)
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func imageExists(t *testing.T, e *env, ref string) bool {
	t.Helper()
	_, err := e.engine.Inspect(context.Background(), ref)
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// create makes a stopped container of image with labels, removed when the
// test ends.
func createContainer(t *testing.T, e *env, name, image, netw string, labels map[string]string, cmd ...string) string {
	t.Helper()
	ctx := context.Background()
	id, err := e.engine.CreateContainer(ctx, container.Spec{Name: name, Image: image, Entrypoint: []string{"/app"}, Cmd: cmd, Labels: labels, Network: netw})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.engine.RemoveContainer(context.Background(), id, true) })
	return id
}

// The sweeper removes what belongs to no installed package (a removed
// package's container, network and image; a procedure container a crash
// left) and keeps the current containers and everything another tool or
// another box labelled.
func TestSweeperRemovesOrphans(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pkg := testpkg.Build(t, e.engine, testpkg.Options{})
	id := pkg.Manifest.ID
	e.record(pkg.Manifest, model.DesiredStopped)
	e.adoptStopping(ctx, id)
	box := e.m.box
	gone := testpkg.RandomID()
	goneTag := "start9/" + gone + "/main:0.1.0"
	if err := e.engine.Tag(ctx, pkg.Tag, goneTag); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testpkg.Sweep(e.engine, gone) })
	if _, err := e.engine.EnsureNetwork(ctx, NetworkName(gone), map[string]string{LabelPackage: gone, LabelBox: box}); err != nil {
		t.Fatal(err)
	}
	orphanProc := createContainer(t, e, ContainerName(id)+".proc-dead", pkg.Tag, "none", map[string]string{LabelPackage: id, LabelProcedure: "true", LabelBox: box})
	goneMain := createContainer(t, e, ContainerName(gone), goneTag, NetworkName(gone), map[string]string{LabelPackage: gone, LabelBox: box})
	otherBox := createContainer(t, e, ContainerName(gone)+".other", pkg.Tag, "none", map[string]string{LabelPackage: gone, LabelBox: "another-box"})
	noBox := createContainer(t, e, ContainerName(gone)+".nobox", pkg.Tag, "none", map[string]string{LabelPackage: gone})

	rep, err := e.m.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Leftovers) != 0 {
		t.Errorf("leftovers: %+v", rep.Leftovers)
	}
	for name, ref := range map[string]string{"orphaned procedure container": orphanProc, "removed package's container": goneMain} {
		if containerExists(t, e, ref) {
			t.Errorf("%s left: %v", name, rep.Removed)
		}
	}
	for name, ref := range map[string]string{"current main container": ContainerName(id), "another box's container": otherBox, "unlabelled container": noBox} {
		if !containerExists(t, e, ref) {
			t.Errorf("%s was removed", name)
		}
	}
	if ok, _ := e.engine.NetworkExists(ctx, NetworkName(gone)); ok {
		t.Error("the removed package's network is left")
	}
	if ok, _ := e.engine.NetworkExists(ctx, NetworkName(id)); !ok {
		t.Error("the installed package's network was removed")
	}
	if imageExists(t, e, goneTag) {
		t.Error("the removed package's image is left")
	}
	if !imageExists(t, e, pkg.Tag) {
		t.Error("the installed package's image was removed")
	}
}

// Uninstall (Release) removes every container labelled for the package:
// a procedure container a crash left running on the package's network no
// longer makes the network removal fail. Before the fix Release failed with
// "network has active endpoints" and left both.
func TestReleaseRemovesOrphanedProcedures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pkg := testpkg.Build(t, e.engine, testpkg.Options{})
	id := pkg.Manifest.ID
	e.record(pkg.Manifest, model.DesiredStopped)
	e.adoptStopping(ctx, id)
	// As a daemon killed mid-procedure leaves it (labelled as before the
	// box label existed).
	proc := createContainer(t, e, ContainerName(id)+".proc-crashed", pkg.Tag, NetworkName(id), map[string]string{LabelPackage: id, LabelProcedure: "true"}, "sleep")
	if err := e.engine.StartContainer(ctx, proc); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Release(ctx, id); err != nil {
		t.Fatalf("release with an orphaned procedure container: %v", err)
	}
	assertGone(t, e, id)
}

type notes struct {
	mu   sync.Mutex
	list []model.NotificationInput
}

func (n *notes) add(_ context.Context, in model.NotificationInput) {
	n.mu.Lock()
	n.list = append(n.list, in)
	n.mu.Unlock()
}

func (n *notes) get() []model.NotificationInput {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]model.NotificationInput(nil), n.list...)
}

// What the engine refuses to remove is reported by Release as a
// LeftoverError, kept by the sweeper (and in its file), retried, and
// reported in one notification when it survives a restart; once the
// engine can remove it, it is gone from the list.
func TestLeftoverSurvivesRestartOnce(t *testing.T) {
	e := &env{t: t, engine: testpkg.Engine(t), dataDir: t.TempDir()}
	e.store = newStore(t, e.dataDir)
	var n notes
	open := func() *Manager {
		o := fastOptions(e)
		o.Notify = n.add
		o.SweepInterval = time.Hour // sweeps here are the test's
		m, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		e.m = m
		return m
	}
	m := open()
	ctx := context.Background()
	pkg := testpkg.Build(t, e.engine, testpkg.Options{})
	id := pkg.Manifest.ID
	e.record(pkg.Manifest, model.DesiredStopped)
	if err := m.Adopt(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Another box's container on the package's network: Release leaves it
	// alone, so the engine refuses to remove the network.
	blocker := createContainer(t, e, ContainerName(id)+".blocker", pkg.Tag, NetworkName(id), map[string]string{LabelPackage: id, LabelBox: "another-box"}, "sleep")
	if err := e.engine.StartContainer(ctx, blocker); err != nil {
		t.Fatal(err)
	}
	err := m.Release(ctx, id)
	var left *LeftoverError
	if !errors.As(err, &left) || !strings.Contains(err.Error(), "network "+NetworkName(id)) {
		t.Fatalf("release: got %v, want a LeftoverError naming the network", err)
	}
	if _, err := e.store.Mutate(ctx, func(d *model.Document) error { delete(d.Public.PackageData, id); return nil }); err != nil {
		t.Fatal(err)
	}
	rep, err := m.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Leftovers) != 1 || rep.Leftovers[0].Kind != LeftoverNetwork || rep.Leftovers[0].Package != id {
		t.Fatalf("leftovers after a sweep: %+v", rep.Leftovers)
	}
	if len(n.get()) != 0 {
		t.Fatalf("notified in the run that recorded it: %+v", n.get())
	}
	m.Close()

	m = open()
	defer m.Close()
	if l := m.Leftovers(); len(l) != 1 {
		t.Fatalf("leftovers read back after a restart: %+v", l)
	}
	for range 2 {
		if _, err := m.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := n.get()
	if len(got) != 1 || got[0].Title != "Engine Leftovers" || !strings.Contains(got[0].Message, NetworkName(id)) {
		t.Fatalf("notifications after two sweeps in the next run: %+v", got)
	}

	if err := e.engine.RemoveContainer(ctx, blocker, true); err != nil {
		t.Fatal(err)
	}
	rep, err = m.Sweep(ctx)
	if err != nil || len(rep.Leftovers) != 0 || len(m.Leftovers()) != 0 {
		t.Fatalf("after the engine can remove it: %+v %+v %v", rep.Leftovers, m.Leftovers(), err)
	}
	if ok, _ := e.engine.NetworkExists(ctx, NetworkName(id)); ok {
		t.Error("the network is still there")
	}
}
