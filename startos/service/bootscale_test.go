package service

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// TestBootStartsAreConcurrentButBounded: at boot every package wants to
// start at once; the manager starts them StartConcurrency at a time (the
// engine does a hundred no faster all at once), and more than one at a time.
func TestBootStartsAreConcurrentButBounded(t *testing.T) {
	e := &env{t: t, engine: testpkg.Engine(t), dataDir: t.TempDir()}
	e.store = newStore(t, e.dataDir)
	ctx := context.Background()
	base := testpkg.Build(t, e.engine, testpkg.Options{})
	e.record(base.Manifest, model.DesiredRunning)
	ids := []string{base.Manifest.ID}
	for i := range 4 {
		id := fmt.Sprintf("%s-%d", base.Manifest.ID, i)
		mf, err := testpkg.NewManifest(testpkg.Options{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		// The same image under each package's name, as installing it does.
		if err := e.engine.Tag(ctx, base.Tag, manifest.DockerTag(id, manifest.MainImage, mf.Version)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { testpkg.Sweep(e.engine, id) })
		e.record(mf, model.DesiredRunning)
		ids = append(ids, id)
	}

	const bound = 2
	opts := fastOptions(e)
	opts.StartConcurrency = bound
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() }) // before the sweeps: no actor recreates a network
	var in, peak atomic.Int32
	two := make(chan struct{})
	var once sync.Once
	hook := func(string) {
		n := in.Add(1)
		defer in.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if n >= bound {
			once.Do(func() { close(two) })
		}
		// The first ones wait for a second to come in beside them; each
		// then holds its slot a moment, time enough for a start beyond
		// the bound to show.
		select {
		case <-two:
		case <-time.After(20 * time.Second):
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.inStartSlot.Store(&hook)
	e.m = m
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		e.waitFor(id, "started", 3*time.Minute, func(en model.PackageDataEntry) bool { return en.StatusInfo.Started != nil })
	}
	if got := peak.Load(); got != bound {
		t.Fatalf("at most %d starts ran at once, want exactly %d (bounded, and concurrent)", got, bound)
	}
}

// TestResyncListingCatchesAStoppedContainer: a container stopped behind the
// daemon's back, with no event stream (Start not called) and no health
// round due, is noticed by the manager's one listing of every container,
// which kicks the package's actor; it restarts the service.
func TestResyncListingCatchesAStoppedContainer(t *testing.T) {
	e := &env{t: t, engine: testpkg.Engine(t), dataDir: t.TempDir()}
	e.store = newStore(t, e.dataDir)
	ctx := context.Background()
	pkg := testpkg.Build(t, e.engine, testpkg.Options{})
	id := pkg.Manifest.ID
	e.record(pkg.Manifest, model.DesiredRunning)
	opts := fastOptions(e)
	opts.ResyncInterval = time.Hour // the actor's own look is hours away
	opts.HealthInterval = time.Hour // one health round, then none
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.m = m
	e.adoptStopping(ctx, id)
	first := e.waitFor(id, "healthy", 60*time.Second, healthy)

	if err := e.engine.StopContainer(ctx, ContainerName(id), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	m.resyncOnce(ctx)
	e.waitFor(id, "restarted", 60*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Started != nil && !en.StatusInfo.Started.Equal(*first.StatusInfo.Started)
	})
}

// TestHealthChecksWaitForStarts: a health round waits while a package is
// being started (at boot, all of them), at most its limit, and gives up
// when its context ends.
func TestHealthChecksWaitForStarts(t *testing.T) {
	m := &Manager{}
	ctx := context.Background()
	if !m.waitStarts(ctx, time.Hour) {
		t.Fatal("waitStarts with no start under way did not return true")
	}
	m.beginStart()
	m.beginStart()
	waited := make(chan bool, 1)
	go func() { waited <- m.waitStarts(ctx, time.Hour) }()
	m.endStart()
	select {
	case <-waited:
		t.Fatal("waitStarts returned while a start was still under way")
	case <-time.After(100 * time.Millisecond):
	}
	m.endStart()
	if !<-waited {
		t.Fatal("waitStarts after the last start ended: false")
	}

	m.beginStart()
	defer m.endStart()
	began := time.Now()
	if !m.waitStarts(ctx, 50*time.Millisecond) {
		t.Fatal("waitStarts at its limit: false")
	}
	if time.Since(began) < 50*time.Millisecond {
		t.Fatal("waitStarts returned before its limit while a start was under way")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if m.waitStarts(cctx, time.Hour) {
		t.Fatal("waitStarts with an ended context: true")
	}
}
