package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type env struct {
	t       *testing.T
	engine  *container.Client
	store   *db.Store
	dataDir string
	m       *Manager
}

// adoptStopping adopts id and stops its actor when the test ends, before
// testpkg's sweep removes the package's container, network and image: an
// actor still running then would recreate the network and leak it.
func (e *env) adoptStopping(ctx context.Context, id string) {
	e.t.Helper()
	if err := e.m.Adopt(ctx, id); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.m.stopActor(id) })
}

func fastOptions(e *env) Options {
	return Options{
		Store: e.store, Engine: e.engine, DataDir: e.dataDir,
		HealthGrace: 300 * time.Millisecond, HealthInterval: 400 * time.Millisecond, HealthTimeout: 10 * time.Second,
		RestartBackoff: 300 * time.Millisecond, RestartBackoffMax: 3 * time.Second, ResyncInterval: time.Second,
		ActionTimeout: 20 * time.Second,
	}
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, engine: testpkg.Engine(t), dataDir: t.TempDir()}
	e.store = newStore(t, e.dataDir)
	e.startManager()
	return e
}

func newStore(t *testing.T, dataDir string) *db.Store {
	if err := os.MkdirAll(filepath.Join(dataDir, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := db.Open(context.Background(), db.Options{Path: filepath.Join(dataDir, "db", "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (e *env) startManager() {
	m, err := New(fastOptions(e))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.m = m
	e.t.Cleanup(func() { m.Close() })
}

// record writes pkg into the document as installed, as the installer does.
func (e *env) record(mf *manifest.Manifest, desired string) {
	raw, err := mf.MarshalArchived()
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.store.Mutate(context.Background(), func(d *model.Document) error {
		d.Public.PackageData[mf.ID] = model.PackageDataEntry{
			StateInfo:  model.StateInfo{State: model.PackageInstalled, Manifest: raw},
			StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: desired}, Health: map[string]model.HealthCheckResult{}},
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) entry(id string) model.PackageDataEntry {
	_, d := e.store.Read()
	return d.Public.PackageData[id]
}

// waitFor polls the document until cond holds.
func (e *env) waitFor(id, what string, timeout time.Duration, cond func(model.PackageDataEntry) bool) model.PackageDataEntry {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		en := e.entry(id)
		if cond(en) {
			return en
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(en.StatusInfo, "", "  ")
			e.t.Fatalf("%s: not within %s; statusInfo: %s", what, timeout, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func healthy(en model.PackageDataEntry) bool {
	return en.StatusInfo.Started != nil && en.StatusInfo.Health["web"].Result == model.HealthSuccess
}

// httpGet fetches / from the package's web port where the engine published
// it on loopback (a port it chose).
func httpGet(t *testing.T, e *env, id string) (string, error) {
	st, err := e.engine.InspectContainer(context.Background(), ContainerName(id))
	if err != nil {
		return "", err
	}
	addr, ok := st.Ports[8080]
	if !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
		return "", fmt.Errorf("port 8080 published at %q, want an ephemeral port on 127.0.0.1 (ports %v)", addr, st.Ports)
	}
	c := http.Client{Timeout: 3 * time.Second}
	r, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return string(b), err
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	port := testpkg.FreePort(t)
	pkg := testpkg.Build(t, e.engine, testpkg.Options{Port: port, MigrationFrom: "*"})
	id := pkg.Manifest.ID
	e.record(pkg.Manifest, model.DesiredRunning)
	e.adoptStopping(ctx, id)

	t.Log("running and healthy")
	en := e.waitFor(id, "healthy", 30*time.Second, healthy)
	if h := en.StatusInfo.Health["web"]; h.Name != "Web interface" || h.Message != "The web interface is ready" {
		t.Errorf("health = %+v", h)
	}
	if body, err := httpGet(t, e, id); err != nil || !strings.Contains(body, "hello from testpkg") {
		t.Errorf("GET on the published port: %q %v", body, err)
	}
	if en.StatusInfo.Error != nil {
		t.Errorf("error while healthy: %+v", en.StatusInfo.Error)
	}
	if _, ok := en.CurrentDependencies[""]; ok || en.CurrentDependencies == nil {
		t.Errorf("currentDependencies = %v", en.CurrentDependencies)
	}

	t.Log("logs")
	pg, err := e.m.Logs(ctx, id, model.LogsParams{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !containsLine(pg.Entries, testpkg.StartupLine) {
		t.Fatalf("logs %+v lack the start-up line", pg.Entries)
	}
	if pg.StartCursor == "" || pg.EndCursor == "" {
		t.Errorf("page without cursors: %+v", pg)
	}
	after, err := e.m.Logs(ctx, id, model.LogsParams{Cursor: pg.EndCursor})
	if err != nil || len(after.Entries) != 0 {
		t.Errorf("logs after the newest: %+v %v", after, err)
	}
	before, err := e.m.Logs(ctx, id, model.LogsParams{Cursor: pg.EndCursor, Before: true})
	if err != nil || len(before.Entries) != len(pg.Entries)-1 {
		t.Errorf("logs before the newest: %d entries (page had %d), %v", len(before.Entries), len(pg.Entries), err)
	}
	if _, err := e.m.Logs(ctx, id, model.LogsParams{Cursor: "yesterday"}); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Errorf("bad cursor: %v", err)
	}
	_, follow, err := e.m.FollowLogs(ctx, id, model.LogsParams{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer follow.Close()

	t.Log("action")
	res, err := e.m.RunAction(ctx, id, "hello", map[string]any{"name": "Satoshi"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != "1" || res.Title != "Say hello" || res.Message != "Hello, Satoshi" || res.Value == nil || *res.Value != "secret-Satoshi" || !res.Copyable ||
		res.Result == nil || *res.Result != (model.ActionResultValue{Type: "single", Value: "secret-Satoshi", Copyable: true}) {
		t.Errorf("action result %+v (result %+v): want version 1 titled by the action, the value as a single result", res, res.Result)
	}
	if _, err := e.m.RunAction(ctx, id, "fail", nil); !errors.Is(err, errdefs.ErrAction) || !strings.Contains(err.Error(), "something went wrong") {
		t.Errorf("failing action: %v", err)
	}
	if _, err := e.m.RunAction(ctx, id, "nope", nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown action: %v", err)
	}
	in, err := e.m.ActionInput(ctx, id, "hello")
	if err != nil || in.Spec != nil {
		t.Errorf("action input %+v %v", in, err)
	}

	t.Log("stats")
	stats, err := e.m.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := stats[id]; !ok || s.Memory == 0 || s.MemoryLimit == 0 {
		t.Errorf("stats = %+v", stats)
	}

	t.Log("crash: killed process comes back, crash visible")
	first := *e.entry(id).StatusInfo.Started
	if err := e.engine.KillContainer(ctx, ContainerName(id), "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	en = e.waitFor(id, "crash visible", 10*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Error != nil
	})
	if !strings.Contains(en.StatusInfo.Error.Details, "exited with code 137") {
		t.Errorf("crash error = %q", en.StatusInfo.Error.Details)
	}
	en = e.waitFor(id, "restarted after crash", 20*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Started != nil && en.StatusInfo.Started.After(first) && en.StatusInfo.Error == nil
	})

	t.Log("the log follower sees the restarted process")
	fctx, fcancel := context.WithTimeout(ctx, 20*time.Second)
	for {
		l, err := follow.Recv(fctx)
		if err != nil {
			t.Fatalf("follow: %v", err)
		}
		if l.Message == testpkg.StartupLine && l.Timestamp.After(first) {
			break
		}
	}
	fcancel()
	follow.Close()

	t.Log("failing health check")
	if err := os.WriteFile(filepath.Join(VolumePath(e.dataDir, id, "main"), "fail-health"), []byte("database is corrupt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	en = e.waitFor(id, "health failure", 20*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Health["web"].Result == model.HealthFailure
	})
	if msg := en.StatusInfo.Health["web"].Message; msg != "first line\ndatabase is corrupt" {
		t.Errorf("failure message %q", msg)
	}
	os.Remove(filepath.Join(VolumePath(e.dataDir, id, "main"), "fail-health"))
	e.waitFor(id, "healthy again", 20*time.Second, healthy)
	// The package's one check is the engine's probe: after the daemon's
	// first round, the failure and the recovery were the engine's outcomes.
	if st, err := e.engine.InspectContainer(ctx, ContainerName(id)); err != nil || st.Probe == nil || st.LastProbe == nil || st.LastProbe.ExitCode != 0 {
		t.Errorf("the engine's probe: %+v, last outcome %+v, %v; want a success", st.Probe, st.LastProbe, err)
	}

	t.Log("stop")
	if err := e.m.StopPackage(ctx, id); err != nil {
		t.Fatal(err)
	}
	en = e.waitFor(id, "stopped", 20*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Started == nil
	})
	if len(en.StatusInfo.Health) != 0 || en.StatusInfo.Desired.Main != model.DesiredStopped {
		t.Errorf("after stop: %+v", en.StatusInfo)
	}
	if st, err := e.engine.InspectContainer(ctx, ContainerName(id)); err != nil || st.Running {
		t.Errorf("container after stop: %+v %v", st, err)
	}
	pg, err = e.m.Logs(ctx, id, model.LogsParams{Limit: 1})
	if err != nil || len(pg.Entries) != 1 || pg.Entries[0].Message != "testpkg: stopping" {
		t.Errorf("graceful stop not in the log: %+v %v", pg, err)
	}
	if _, err := e.m.RunAction(ctx, id, "hello", nil); !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "only when the service is running") {
		t.Errorf("action while stopped: %v", err)
	}

	t.Log("start, then restart")
	if err := e.m.StartPackage(ctx, id); err != nil {
		t.Fatal(err)
	}
	en = e.waitFor(id, "started", 20*time.Second, healthy)
	prev := *en.StatusInfo.Started
	if err := e.m.RestartPackage(ctx, id); err != nil {
		t.Fatal(err)
	}
	e.waitFor(id, "restarted", 20*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Started != nil && en.StatusInfo.Started.After(prev) && en.StatusInfo.Desired.Main == model.DesiredRunning
	})

	t.Log("RunProcedure: a migration")
	out, err := e.m.RunProcedure(ctx, id, pkg.Manifest, *pkg.Manifest.Migrations.From["*"], map[string]string{"from": "0.0.9"})
	if err != nil {
		t.Fatal(err)
	}
	var mig map[string]any
	if err := json.Unmarshal(out, &mig); err != nil || mig["configured"] != true || mig["input"] != `{"from":"0.0.9"}` {
		t.Errorf("migration output %s (%v)", out, err)
	}
	if b, err := os.ReadFile(filepath.Join(VolumePath(e.dataDir, id, "main"), "migrated")); err != nil || string(b) != `{"from":"0.0.9"}` {
		t.Errorf("migration did not write its volume: %q %v", b, err)
	}
	failing := *pkg.Manifest.Migrations.From["*"]
	failing.Args = []string{"fail"}
	_, err = e.m.RunProcedure(ctx, id, pkg.Manifest, failing, nil)
	var pe *ProcedureError
	if !errors.As(err, &pe) || pe.ExitCode != 3 || pe.Stderr != "something went wrong" {
		t.Errorf("failing procedure: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, time.Second)
	sleeping := failing
	sleeping.Args = []string{"sleep"}
	_, err = e.m.RunProcedure(tctx, id, pkg.Manifest, sleeping, nil)
	tcancel()
	if !errors.Is(err, errdefs.ErrTimeout) {
		t.Errorf("procedure past its deadline: %v", err)
	}

	t.Log("release")
	if err := e.m.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Release(ctx, id); err != nil {
		t.Fatalf("second release: %v", err)
	}
	assertGone(t, e, id)
}

func assertGone(t *testing.T, e *env, id string) {
	t.Helper()
	ctx := context.Background()
	list, err := e.engine.ListContainers(ctx, LabelPackage+"="+id)
	if err != nil || len(list) != 0 {
		t.Errorf("containers left: %+v %v", list, err)
	}
	if ok, err := e.engine.NetworkExists(ctx, NetworkName(id)); ok || err != nil {
		t.Errorf("network left: %v %v", ok, err)
	}
}

func containsLine(es []model.PackageLogEntry, line string) bool {
	for _, e := range es {
		if e.Message == line {
			return true
		}
	}
	return false
}

func TestMissingEntrypoint(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pkg := testpkg.Build(t, e.engine, testpkg.Options{Port: testpkg.FreePort(t), Entrypoint: "/does-not-exist"})
	id := pkg.Manifest.ID
	e.record(pkg.Manifest, model.DesiredRunning)
	e.adoptStopping(ctx, id)
	en := e.waitFor(id, "start error", 20*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Error != nil
	})
	if !strings.Contains(en.StatusInfo.Error.Details, "/does-not-exist") || en.StatusInfo.Started != nil {
		t.Errorf("statusInfo %+v: %q", en.StatusInfo, en.StatusInfo.Error.Details)
	}
	// Stopping a package that never started is immediate, and Release
	// cleans up.
	if err := e.m.StopPackage(ctx, id); err != nil {
		t.Fatal(err)
	}
	e.waitFor(id, "error cleared on stop", 10*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Error == nil
	})
	start := time.Now()
	if err := e.m.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("release took %s", d)
	}
	assertGone(t, e, id)
}

func TestDependencies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dep, err := testpkg.NewManifest(testpkg.Options{Port: 1, Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	user, err := testpkg.NewManifest(testpkg.Options{Port: 2, Extra: "dependencies:\n  " + dep.ID + ":\n    version: \">=0.2.0\"\n    requirement:\n      type: required\n"})
	if err != nil {
		t.Fatal(err)
	}
	e.record(user, model.DesiredStopped)
	check := func(kind, msg string) {
		t.Helper()
		st, err := e.m.Dependencies(user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := st[dep.ID]; got.Kind != kind || !got.Required || !strings.Contains(got.Message, msg) {
			t.Errorf("dependency state %+v, want %s %q", got, kind, msg)
		}
		err = e.m.StartPackage(ctx, user.ID)
		if kind == model.DependencySatisfied {
			if err != nil {
				t.Errorf("start refused: %v", err)
			}
			return
		}
		if !errors.Is(err, errdefs.ErrDependency) || !strings.Contains(err.Error(), msg) {
			t.Errorf("start: %v, want ErrDependency naming %q", err, msg)
		}
	}
	check(model.DependencyNotInstalled, "is not installed")
	e.record(dep, model.DesiredStopped)
	check(model.DependencyIncorrectVersion, "0.1.0 is installed; >=0.2.0 is needed")
	dep2, _ := testpkg.NewManifest(testpkg.Options{ID: dep.ID, Port: 1, Version: "0.2.0"})
	e.record(dep2, model.DesiredStopped)
	check(model.DependencyNotRunning, "is not running")
	now := time.Now()
	setStatus := func(h model.HealthCheckResult) {
		e.store.Mutate(ctx, func(d *model.Document) error {
			en := d.Public.PackageData[dep.ID]
			en.StatusInfo.Started = &now
			en.StatusInfo.Health = map[string]model.HealthCheckResult{"web": h}
			d.Public.PackageData[dep.ID] = en
			return nil
		})
	}
	setStatus(model.HealthCheckResult{Name: "Web interface", Result: model.HealthFailure, Message: "down"})
	check(model.DependencyHealthChecksFailed, `health check "Web interface" fails: down`)
	setStatus(model.HealthCheckResult{Name: "Web interface", Result: model.HealthSuccess})
	check(model.DependencySatisfied, "")
	if d := e.entry(user.ID).StatusInfo.Desired.Main; d != model.DesiredRunning {
		t.Errorf("desired after an allowed start: %s", d)
	}
}

// TestBootReconcile: the daemon restarts and finds the container and image
// gone (as after an engine reset); Start reloads the image from the archive
// and recreates the container. Then Rebuild does it on request.
func TestBootReconcile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	port := testpkg.FreePort(t)
	pkg := testpkg.Build(t, e.engine, testpkg.Options{Port: port})
	id := pkg.Manifest.ID
	pkg.WriteArchive(t, ArchivePath(e.dataDir, id))
	e.record(pkg.Manifest, model.DesiredRunning)
	e.adoptStopping(ctx, id)
	e.waitFor(id, "healthy", 30*time.Second, healthy)
	defer e.m.Release(ctx, id)

	// The daemon stops: the service keeps running.
	e.m.Close()
	st, err := e.engine.InspectContainer(ctx, ContainerName(id))
	if err != nil || !st.Running {
		t.Fatalf("container after the daemon closed: %+v %v", st, err)
	}
	// A restarted daemon adopts the running container without restarting it.
	e.startManager()
	en := e.waitFor(id, "adopted", 20*time.Second, healthy)
	if !en.StatusInfo.Started.Equal(st.StartedAt) {
		t.Errorf("started %v, want the running container's %v", en.StatusInfo.Started, st.StartedAt)
	}
	e.m.Close()

	// Container and image lost while the daemon was down.
	if err := e.engine.RemoveContainer(ctx, ContainerName(id), true); err != nil {
		t.Fatal(err)
	}
	if err := e.engine.Remove(ctx, pkg.Tag, true); err != nil {
		t.Fatal(err)
	}
	e.startManager()
	e.waitFor(id, "healthy after boot reconcile", 60*time.Second, healthy)
	if _, err := e.engine.Inspect(ctx, pkg.Tag); err != nil {
		t.Errorf("image not reloaded: %v", err)
	}
	before, _ := e.engine.InspectContainer(ctx, ContainerName(id))

	if err := e.m.Rebuild(ctx, id); err != nil {
		t.Fatal(err)
	}
	e.waitFor(id, "healthy after rebuild", 60*time.Second, healthy)
	after, _ := e.engine.InspectContainer(ctx, ContainerName(id))
	if after.ID == before.ID || after.ID == "" {
		t.Errorf("rebuild kept container %s", before.ID)
	}
	if body, err := httpGet(t, e, id); err != nil || !strings.Contains(body, "hello") {
		t.Errorf("GET after rebuild: %q %v", body, err)
	}
	if err := e.m.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	assertGone(t, e, id)
}
