package service

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// A state write that fails is made again: the error of a package the actor
// cannot run reaches statusInfo.error once the store accepts writes. Before
// the fix the actor remembered the message as written and never wrote it.
func TestFailedStateWriteIsRetried(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// An entry whose recorded manifest is another package's: the actor
	// reports the same error on every pass.
	id, other := testpkg.RandomID(), testpkg.RandomID()
	mf, err := testpkg.NewManifest(testpkg.Options{ID: other})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mf.MarshalArchived()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Mutate(ctx, func(d *model.Document) error {
		d.Public.PackageData[id] = model.PackageDataEntry{
			StateInfo:  model.StateInfo{State: model.PackageInstalled, Manifest: raw},
			StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: model.DesiredRunning}, Health: map[string]model.HealthCheckResult{}},
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	var failed atomic.Int32
	fail := func() error {
		failed.Add(1)
		return fmt.Errorf("injected: disk full: %w", errdefs.ErrFilesystem)
	}
	e.m.failWrite.Store(&fail)
	e.m.spawn(id)
	deadline := time.Now().Add(30 * time.Second)
	for failed.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no state write attempted in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if en := e.entry(id); en.StatusInfo.Error != nil {
		t.Fatalf("an error was recorded while writes fail: %+v", en.StatusInfo.Error)
	}
	e.m.failWrite.Store(nil)
	en := e.waitFor(id, "the error recorded after writes work again", 20*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Error != nil
	})
	if !strings.Contains(en.StatusInfo.Error.Details, "recorded manifest is for \""+other) {
		t.Errorf("statusInfo.error: %q", en.StatusInfo.Error.Details)
	}
}

// A health check that hangs is killed at its timeout and reported failed
// with the reason; the count of processes in the container does not grow
// from one round to the next. Before the fix every round left one more
// process running. Both ways a check runs are covered: by the engine (the
// package's one check, an exec without input) and by the daemon's own
// execs (a check that takes input).
func TestHungHealthCheckDoesNotLeak(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ioFormat manifest.IOFormat
		byEngine bool
	}{{"engine", "", true}, {"daemon", "json", false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			pkg := testpkg.Build(t, e.engine, testpkg.Options{})
			id := pkg.Manifest.ID
			hc := pkg.Manifest.HealthChecks["web"]
			hc.Args = []string{"sleep"} // sleeps for an hour
			hc.Timeout = manifest.Duration(time.Second)
			hc.IOFormat = tc.ioFormat
			e.record(pkg.Manifest, model.DesiredRunning)
			e.adoptStopping(ctx, id)
			en := e.waitFor(id, "the hung check reported failed", 30*time.Second, func(en model.PackageDataEntry) bool {
				return en.StatusInfo.Health["web"].Result == model.HealthFailure
			})
			if msg := en.StatusInfo.Health["web"].Message; !strings.Contains(msg, "Timed out") || !strings.Contains(msg, "the check was stopped") {
				t.Errorf("health message: %q", msg)
			}
			// Rounds come every 1.4 s (1 s timeout, 0.4 s interval): watch
			// about six. The container holds its init, the service and at
			// most the one check in flight.
			most := 0
			for end := time.Now().Add(8 * time.Second); time.Now().Before(end); {
				n, err := e.engine.ProcessCount(ctx, ContainerName(id))
				if err != nil {
					t.Fatal(err)
				}
				most = max(most, n)
				time.Sleep(200 * time.Millisecond)
			}
			if most > 3 {
				t.Errorf("the container held up to %d processes: hung checks are left running", most)
			}
			st, err := e.engine.InspectContainer(ctx, ContainerName(id))
			if err != nil {
				t.Fatal(err)
			}
			if ran := st.LastProbe != nil; ran != tc.byEngine || (st.Probe != nil) != tc.byEngine {
				t.Errorf("the engine probes: %+v, last outcome %+v; want it to run the check: %v", st.Probe, st.LastProbe, tc.byEngine)
			} else if ran && st.LastProbe.ExitCode != container.ProbeTimedOut {
				t.Errorf("the engine's last probe: %+v, want a timeout", st.LastProbe)
			}
			if err := e.m.Release(ctx, id); err != nil {
				t.Fatal(err)
			}
		})
	}
}
