package watchdog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(childMain(mode))
	}
	goleak.VerifyTestMain(m)
}

// fakeClock moves only when the test says so. Like a real ticker, a fake
// ticker holds at most one pending tick.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
}

type fakeTicker struct {
	c       chan time.Time
	d       time.Duration
	next    time.Time
	stopped bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTicker(d time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTicker{c: make(chan time.Time, 1), d: d, next: c.now.Add(d)}
	c.tickers = append(c.tickers, t)
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.tickers {
		if !t.stopped && !c.now.Before(t.next) {
			select {
			case t.c <- c.now:
			default:
			}
			t.next = c.now.Add(t.d)
		}
	}
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }
func (t *fakeTicker) Stop()               { t.stopped = true }

// harness runs a watchdog on a fake clock inside a synctest bubble, so that
// after each step every goroutine (monitor, checks, dumper, reporter) has
// finished its work before the test looks.
type harness struct {
	t     *testing.T
	clk   *fakeClock
	w     *Watchdog
	mu    sync.Mutex
	evs   []event
	exits []int
	hooks [][2]string
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, clk: newFakeClock()}
	cfg.Clock = h.clk
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.Exit = func(code int) {
		h.mu.Lock()
		h.exits = append(h.exits, code)
		h.mu.Unlock()
	}
	cfg.OnMegamiss = func(probe, path string) {
		h.mu.Lock()
		h.hooks = append(h.hooks, [2]string{probe, path})
		h.mu.Unlock()
	}
	cfg.Logger = testLogger(t)
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.observe = func(ev event) {
		h.mu.Lock()
		h.evs = append(h.evs, ev)
		h.mu.Unlock()
	}
	h.w = w
	t.Cleanup(func() { w.Close() }) // inside the bubble, so a failed test ends cleanly
	return h
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "watchdog", Output: testWriter{t}, Level: hclog.Debug})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (h *harness) start() {
	h.w.Start()
	synctest.Wait()
}

// step advances the clock by n ticks, one at a time.
func (h *harness) step(n int) {
	for range n {
		h.clk.Advance(h.w.cfg.Tick)
		synctest.Wait()
	}
}

func (h *harness) close() {
	h.t.Helper()
	if err := h.w.Close(); err != nil {
		h.t.Fatal(err)
	}
}

// kinds lists the events about probe (all events when probe is ""), in
// order, as "kind" strings.
func (h *harness) kinds(probe string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, ev := range h.evs {
		if probe == "" || ev.probe == probe || slices.Contains(ev.probes, probe) {
			out = append(out, ev.kind.String())
		}
	}
	return out
}

func (h *harness) exitCodes() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.exits)
}

func (h *harness) probe(name string) model.ProbeStatus {
	h.t.Helper()
	for _, p := range h.w.Status().Probes {
		if p.Name == name {
			return p
		}
	}
	h.t.Fatalf("probe %q not in status", name)
	return model.ProbeStatus{}
}

// switchable is a check whose result the test sets.
type switchable struct{ fail atomic.Bool }

func (s *switchable) check(ctx context.Context) error {
	if s.fail.Load() {
		return errors.New("injected failure")
	}
	return nil
}

func failing(s *switchable) *switchable { s.fail.Store(true); return s }

func dumpFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, dumpPrefix+"*"+dumpSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no dir", Config{}, "Dir is empty"},
		{"negative tick", Config{Dir: dir, Tick: -time.Second}, "Tick -1s is negative"},
		{"megamiss before miss", Config{Dir: dir, Miss: 3 * time.Second, Megamiss: 2 * time.Second}, "megamiss 2s must be longer than miss 3s"},
		{"kill before megamiss", Config{Dir: dir, Kill: 4 * time.Second}, "kill 4s must be longer than megamiss 5s"},
		{"miss shorter than tick", Config{Dir: dir, Tick: 3 * time.Second}, "miss 2s is shorter than the tick 3s"},
		{"negative dir cap", Config{Dir: dir, MaxDirBytes: -1}, "MaxDirBytes -1 is negative"},
		{"pause gap near kill", Config{Dir: dir, PauseGap: 29 * time.Second}, "PauseGap 29s must be at least 1.5 ticks (1.5s) and end a tick before Kill 30s"},
		{"pause gap within a tick", Config{Dir: dir, PauseGap: 1200 * time.Millisecond}, "PauseGap 1.2s must be at least 1.5 ticks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrInvalidRequest) {
				t.Fatalf("New: got %v, want an ErrInvalidRequest containing %q", err, tc.want)
			}
		})
	}
}

func TestRegistrationErrors(t *testing.T) {
	w, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ok := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name string
		err  error
		want error
		text string
	}{
		{"duplicate", w.AddProbe("scheduler", Fatal, ok), errdefs.ErrDuplicate, `"scheduler": a probe of that name is already registered`},
		{"empty name", w.AddProbe("", Fatal, ok), errdefs.ErrInvalidRequest, "name is empty"},
		{"nil check", w.AddProbe("x", Fatal, nil), errdefs.ErrInvalidRequest, "check is nil"},
		{"zero severity", w.AddProbe("x", 0, ok), errdefs.ErrInvalidRequest, "invalid severity 0"},
		{"bad thresholds", w.AddProbe("x", Fatal, ok, WithThresholds(5*time.Second, time.Second, time.Minute)), errdefs.ErrInvalidRequest, "megamiss 1s must be longer than miss 5s"},
		{"slow interval", w.AddProbe("x", Fatal, ok, WithInterval(3*time.Second)), errdefs.ErrInvalidRequest, "interval 3s must be positive and shorter than the miss threshold 2s"},
		{"nil pool", w.WatchPool("p", Fatal, nil), errdefs.ErrInvalidRequest, "pool is nil"},
	} {
		if !errors.Is(tc.err, tc.want) || !strings.Contains(tc.err.Error(), tc.text) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, tc.err, tc.want, tc.text)
		}
	}
	if _, err := w.NewMutex("scheduler"); !errors.Is(err, errdefs.ErrDuplicate) {
		t.Errorf("NewMutex with a taken name: got %v, want ErrDuplicate", err)
	}
}

// The ladder in order for a Fatal probe that keeps failing: miss after 2 s,
// megamiss (and one dump) after 5 s, kill after 30 s, nothing twice.
func TestLadderOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{})
		if err := h.w.AddProbe("db", Fatal, failing(&switchable{}).check); err != nil {
			t.Fatal(err)
		}
		h.start()
		h.step(2) // 2 s without success: not yet past miss
		if p := h.probe("db"); p.State != model.ProbeOK || p.Misses != 0 {
			t.Fatalf("at 2s: %+v, want ok with no miss", p)
		}
		h.step(1)
		if p := h.probe("db"); p.State != model.ProbeMiss || p.Misses != 1 || p.LastError != "injected failure" {
			t.Fatalf("at 3s: %+v, want one miss with the last error", p)
		}
		if st := h.w.Status(); st.State != model.WatchdogStalled {
			t.Fatalf("overall state %q, want stalled", st.State)
		}
		h.step(2)
		if p := h.probe("db"); p.Megamisses != 0 {
			t.Fatalf("at 5s: megamiss too early: %+v", p)
		}
		h.step(1)
		if p := h.probe("db"); p.State != model.ProbeMegamiss || p.Megamisses != 1 || p.Misses != 1 {
			t.Fatalf("at 6s: %+v, want one megamiss", p)
		}
		if n := len(dumpFiles(t, h.w.cfg.Dir)); n != 1 {
			t.Fatalf("%d dumps after the megamiss, want 1", n)
		}
		h.step(24) // 30 s
		// The scheduler probe ran all along: the monitor was never stuck.
		if p := h.probe("scheduler"); p.State != model.ProbeOK || p.Misses != 0 {
			t.Fatalf("scheduler %+v", p)
		}
		if codes := h.exitCodes(); len(codes) != 0 {
			t.Fatalf("exit at 30s (%v): kill must wait until past the threshold", codes)
		}
		h.step(1)
		if codes := h.exitCodes(); !slices.Equal(codes, []int{ExitCode}) {
			t.Fatalf("exit codes %v, want [%d]", codes, ExitCode)
		}
		h.step(5) // after the kill nothing more happens
		if got, want := h.kinds("db"), []string{"miss", "megamiss", "dump", "kill"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		if codes := h.exitCodes(); len(codes) != 1 {
			t.Fatalf("exit called %d times", len(codes))
		}
		files := dumpFiles(t, h.w.cfg.Dir)
		var kill string
		var megamisses, kills int
		for _, f := range files {
			switch {
			case strings.HasSuffix(f, "-megamiss.txt"):
				megamisses++
			case strings.HasSuffix(f, "-kill.txt"):
				kills++
				b, _ := os.ReadFile(f)
				kill = string(b)
			}
		}
		if len(files) != 2 || megamisses != 1 || kills != 1 {
			t.Fatalf("dumps %v, want one megamiss and one kill dump", files)
		}
		if !strings.HasPrefix(kill, `startos watchdog dump: kill: probe "db" has not succeeded for 31s`) {
			t.Fatalf("kill dump starts %q", kill[:min(len(kill), 120)])
		}
		h.mu.Lock()
		hooks := slices.Clone(h.hooks)
		h.mu.Unlock()
		if len(hooks) != 1 || hooks[0][0] != "db" || !strings.HasSuffix(hooks[0][1], "-megamiss.txt") {
			t.Fatalf("OnMegamiss calls %v, want one for db with the dump path", hooks)
		}
		h.close()
	})
}

func TestDegradedNeverKills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{})
		if err := h.w.AddProbe("sink:stderr", Degraded, failing(&switchable{}).check); err != nil {
			t.Fatal(err)
		}
		h.start()
		h.step(120)
		p := h.probe("sink:stderr")
		if p.State != model.ProbeMegamiss || p.Megamisses != 1 {
			t.Fatalf("%+v, want megamiss", p)
		}
		if codes := h.exitCodes(); len(codes) != 0 {
			t.Fatalf("a Degraded probe killed the process: %v", codes)
		}
		if st := h.w.Status().State; st != model.WatchdogDegraded {
			t.Fatalf("state %q, want degraded", st)
		}
		h.close()
	})
}

// A probe that succeeds ends its episode: the next stall is a new episode
// with its own miss, megamiss and dump.
func TestRecoveryEndsEpisode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{})
		s := failing(&switchable{})
		if err := h.w.AddProbe("rpc", Fatal, s.check); err != nil {
			t.Fatal(err)
		}
		h.start()
		h.step(7)
		s.fail.Store(false)
		h.step(1)
		if p := h.probe("rpc"); p.State != model.ProbeOK || p.Misses != 1 || p.Megamisses != 1 {
			t.Fatalf("after recovery %+v", p)
		}
		h.step(10)
		if got := h.kinds("rpc"); !slices.Equal(got, []string{"miss", "megamiss", "dump", "recovered"}) {
			t.Fatalf("first episode events %v", got)
		}
		s.fail.Store(true)
		h.step(7)
		if p := h.probe("rpc"); p.Misses != 2 || p.Megamisses != 2 {
			t.Fatalf("second episode %+v, want 2 misses and 2 megamisses", p)
		}
		if n := len(dumpFiles(t, h.w.cfg.Dir)); n != 2 {
			t.Fatalf("%d dumps, want one per episode", n)
		}
		if codes := h.exitCodes(); len(codes) != 0 {
			t.Fatalf("killed: %v", codes)
		}
		h.close()
	})
}

func TestDumpRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{DumpsPerHour: 2})
		s := &switchable{}
		if err := h.w.AddProbe("flaky", Fatal, s.check); err != nil {
			t.Fatal(err)
		}
		h.start()
		episode := func() {
			s.fail.Store(true)
			h.step(7)
			s.fail.Store(false)
			h.step(2)
		}
		for range 3 {
			episode()
		}
		st := h.w.Status()
		if got := len(dumpFiles(t, h.w.cfg.Dir)); got != 2 || st.DumpsSkipped != 1 || len(st.Dumps) != 2 {
			t.Fatalf("%d dumps on disk, %d in status, %d skipped; want 2, 2, 1", got, len(st.Dumps), st.DumpsSkipped)
		}
		h.mu.Lock()
		hooks := slices.Clone(h.hooks)
		h.mu.Unlock()
		if len(hooks) != 3 || hooks[2][1] != "" || hooks[0][1] == "" {
			t.Fatalf("OnMegamiss calls %v: want 3, the skipped one with no path", hooks)
		}
		// An hour after the first dump, the window has room again.
		h.step(3600)
		episode()
		if got := len(dumpFiles(t, h.w.cfg.Dir)); got != 3 {
			t.Fatalf("%d dumps an hour later, want 3", got)
		}
		h.close()
	})
}

// A tick that arrives a minute late (suspend, VM pause) resets the clocks:
// no verdicts, no kill. The control turns the rule off and the same jump
// kills, which shows the jump really looks like a stall.
func TestLateTickResetsClocks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pauseGap time.Duration
		wantKill bool
	}{
		{"default rule", 0, false},
		{"control without the rule", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, Config{PauseGap: tc.pauseGap})
				hb, err := h.w.Heartbeat("reconciler", Fatal)
				if err != nil {
					t.Fatal(err)
				}
				h.start()
				for range 5 {
					hb.Touch()
					h.step(1)
				}
				h.clk.Advance(time.Minute)
				synctest.Wait()
				for range 5 {
					hb.Touch()
					h.step(1)
				}
				killed := len(h.exitCodes()) > 0
				if killed != tc.wantKill {
					t.Fatalf("killed=%v, want %v; events %v", killed, tc.wantKill, h.kinds(""))
				}
				st := h.w.Status()
				if !tc.wantKill {
					if st.Pauses != 1 || h.probe("reconciler").Misses != 0 || st.State != model.WatchdogOK {
						t.Fatalf("pauses %d, status %+v: want one pause and no miss", st.Pauses, st)
					}
					if got := h.kinds(""); !slices.Equal(got, []string{"pause"}) {
						t.Fatalf("events %v, want only the pause", got)
					}
				}
				h.close()
			})
		})
	}
}

// A check that hangs is the only one in flight for its probe; it is
// cancelled at its deadline; it does not hold up the monitor or the other
// probes.
func TestHangingCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{})
		release := make(chan struct{})
		var inFlight, maxInFlight, calls, cancelled atomic.Int64
		hang := func(ctx context.Context) error {
			calls.Add(1)
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := maxInFlight.Load()
				if n <= m || maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
			select {
			case <-ctx.Done():
				cancelled.Add(1)
			case <-release:
				return nil
			}
			<-release // ignore the cancellation and keep hanging
			return ctx.Err()
		}
		if err := h.w.AddProbe("docker", Fatal, hang); err != nil {
			t.Fatal(err)
		}
		h.start()
		h.step(10)
		if c, m := calls.Load(), maxInFlight.Load(); c != 1 || m != 1 {
			t.Fatalf("%d calls, %d at once: want one hanging call", c, m)
		}
		if cancelled.Load() != 1 {
			t.Fatal("the hanging check's context was not cancelled at its deadline")
		}
		p := h.probe("docker")
		if p.State != model.ProbeMegamiss || p.InFlightMs != 10000 {
			t.Fatalf("%+v: want megamiss with a check in flight for 10s", p)
		}
		if s := h.probe("scheduler"); s.State != model.ProbeOK {
			t.Fatalf("scheduler %+v: the monitor was held up", s)
		}
		close(release)
		synctest.Wait()
		h.step(2)
		if calls.Load() < 2 {
			t.Fatal("the probe did not run again after its check returned")
		}
		if p := h.probe("docker"); p.State != model.ProbeOK {
			t.Fatalf("after release %+v", p)
		}
		h.close()
	})
}

// Close cannot stop a check that ignores its context; it says which.
func TestCloseNamesStuckCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{})
		release := make(chan struct{})
		if err := h.w.AddProbe("stubborn", Fatal, func(context.Context) error { <-release; return nil }); err != nil {
			t.Fatal(err)
		}
		h.start()
		err := h.w.Close()
		if !errors.Is(err, errdefs.ErrTimeout) || !strings.Contains(err.Error(), "stubborn") {
			t.Fatalf("Close: %v, want a timeout naming the probe", err)
		}
		close(release)
	})
}

func TestHeartbeatAndScope(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{})
		hb, err := h.w.Heartbeat("loop", Fatal, WithThresholds(3*time.Second, 6*time.Second, time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		h.start()
		quick := h.w.Scope("quick", 5*time.Second)
		slow := h.w.Scope("backup", 10*time.Second)
		for range 4 {
			hb.Touch()
			h.step(1)
		}
		quick()
		h.step(4) // 8 s; the heartbeat was last touched at 3 s
		if p := h.probe("loop"); p.State != model.ProbeMiss || p.Misses != 1 {
			t.Fatalf("heartbeat %+v, want a miss after its own 3s threshold", p)
		}
		h.step(2)
		if p := h.probe("backup"); p.State != model.ProbeOK || p.Kind != "scope" {
			t.Fatalf("scope at its limit %+v, want ok", p)
		}
		h.step(1)
		if p := h.probe("backup"); p.State != model.ProbeMiss {
			t.Fatalf("scope past its limit %+v, want miss", p)
		}
		for range 60 {
			hb.Touch()
			h.step(1)
		}
		if p := h.probe("loop"); p.State != model.ProbeOK || p.Misses != 1 {
			t.Fatalf("heartbeat after touching again %+v", p)
		}
		if p := h.probe("backup"); p.State != model.ProbeMegamiss || p.Severity != "degraded" || !strings.Contains(p.Detail, "limit 10s") {
			t.Fatalf("scope %+v, want a degraded megamiss", p)
		}
		if codes := h.exitCodes(); len(codes) != 0 {
			t.Fatal("a scope killed the process")
		}
		if got := h.kinds("quick"); len(got) != 0 {
			t.Fatalf("a scope that ended in time produced events %v", got)
		}
		slow()
		hb.Stop()
		for _, p := range h.w.Status().Probes {
			if p.Name == "backup" || p.Name == "loop" {
				t.Fatalf("%s still watched after done/Stop", p.Name)
			}
		}
		h.close()
	})
}

func TestPanickingCheckFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{})
		if err := h.w.AddProbe("buggy", Degraded, func(context.Context) error { panic("oops") }); err != nil {
			t.Fatal(err)
		}
		h.start()
		h.step(3)
		if p := h.probe("buggy"); p.State != model.ProbeMiss || p.LastError != "check panicked: oops" {
			t.Fatalf("%+v", p)
		}
		h.close()
	})
}

func TestNilWatchdog(t *testing.T) {
	var w *Watchdog
	m, err := w.NewMutex("x")
	if err != nil {
		t.Fatal(err)
	}
	m.Lock()
	if m.TryLock() {
		t.Fatal("TryLock succeeded on a held lock")
	}
	m.Unlock()
	hb, err := w.Heartbeat("x", Fatal)
	if err != nil {
		t.Fatal(err)
	}
	hb.Touch()
	hb.Stop()
	w.Scope("x", time.Second)()
	if err := w.AddProbe("x", Fatal, nil); err != nil {
		t.Fatal(err)
	}
	w.Ready()
	if _, err := w.Dump("x"); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Dump on nil: %v", err)
	}
}
