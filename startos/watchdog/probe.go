package watchdog

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
)

type kind int

const (
	kindProbe kind = iota
	kindHeartbeat
	kindMutex
	kindPool
	kindScope
)

func (k kind) String() string {
	return [...]string{"probe", "heartbeat", "mutex", "pool", "scope"}[k]
}

// entry is one watched thing. Its last success is an atomic so heartbeats
// and checks record it without the watchdog's lock; everything else is
// guarded by Watchdog.mu.
type entry struct {
	id       uint64
	name     string
	kind     kind
	sev      Severity
	th       thresholds
	timeout  time.Duration // deadline of one check
	interval time.Duration // how often the check runs
	check    func(ctx context.Context) error
	detail   func(now int64) string // non-blocking: reads atomics only
	holder   func() *lockHolder     // mutexes: who holds it now

	lastOK atomic.Int64 // watchdog time of the last success

	removed    bool
	running    bool
	runStart   int64
	lastRun    int64
	ran        bool
	runCancel  context.CancelFunc
	lastErr    string
	missed     bool // this episode reached miss
	megamissed bool // this episode reached megamiss
	misses     uint64
	megamisses uint64
}

// ProbeOption changes how one probe is watched.
type ProbeOption func(*probeOptions)

type probeOptions struct {
	th       thresholds
	timeout  time.Duration
	interval time.Duration
}

// WithThresholds replaces the watchdog's miss, megamiss and kill thresholds
// for one probe (a loop that legitimately sleeps 15 s between touches needs
// longer ones).
func WithThresholds(miss, megamiss, kill time.Duration) ProbeOption {
	return func(o *probeOptions) { o.th = thresholds{miss, megamiss, kill} }
}

// WithTimeout sets the deadline of one run of the check. Default: the miss
// threshold. A check that ignores it stays the only one in flight.
func WithTimeout(d time.Duration) ProbeOption {
	return func(o *probeOptions) { o.timeout = d }
}

// WithInterval runs the check every d instead of every tick (for probes that
// cost more, such as a Docker ping). It must be shorter than the miss
// threshold or the probe would miss between runs.
func WithInterval(d time.Duration) ProbeOption {
	return func(o *probeOptions) { o.interval = d }
}

func (w *Watchdog) options(opts []ProbeOption) (probeOptions, error) {
	o := probeOptions{th: thresholds{w.cfg.Miss, w.cfg.Megamiss, w.cfg.Kill}}
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkThresholds(w.cfg.Tick, o.th); err != nil {
		return o, err
	}
	if o.timeout == 0 {
		o.timeout = o.th.miss
	}
	if o.interval == 0 {
		o.interval = w.cfg.Tick
	}
	switch {
	case o.timeout < 0:
		return o, fmt.Errorf("watchdog probe: timeout %s is negative: %w", o.timeout, errdefs.ErrInvalidRequest)
	case o.interval < 0 || o.interval >= o.th.miss:
		return o, fmt.Errorf("watchdog probe: interval %s must be positive and shorter than the miss threshold %s: %w", o.interval, o.th.miss, errdefs.ErrInvalidRequest)
	}
	return o, nil
}

// register adds e under its name. Scopes share names; everything else needs
// a unique one.
func (w *Watchdog) register(e *entry, opts []ProbeOption) error {
	if e.name == "" {
		return fmt.Errorf("watchdog: %s name is empty: %w", e.kind, errdefs.ErrInvalidRequest)
	}
	if !e.sev.valid() {
		return fmt.Errorf("watchdog: %s %q: invalid severity %d (use Fatal or Degraded): %w", e.kind, e.name, int(e.sev), errdefs.ErrInvalidRequest)
	}
	o, err := w.options(opts)
	if err != nil {
		return fmt.Errorf("%s %q: %w", e.kind, e.name, err)
	}
	e.th, e.timeout, e.interval = o.th, o.timeout, o.interval
	now := w.now()
	if e.kind != kindScope {
		e.lastOK.Store(now)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("watchdog: %s %q: watchdog is closed: %w", e.kind, e.name, errdefs.ErrUnavailable)
	}
	if e.kind != kindScope {
		if _, dup := w.names[e.name]; dup {
			return fmt.Errorf("watchdog: %s %q: a probe of that name is already registered: %w", e.kind, e.name, errdefs.ErrDuplicate)
		}
		w.names[e.name] = e
	}
	w.nextID++
	e.id = w.nextID
	w.entries = append(w.entries, e)
	return nil
}

func (w *Watchdog) unregister(e *entry) {
	w.mu.Lock()
	if e.removed {
		w.mu.Unlock()
		return
	}
	e.removed = true
	if w.names[e.name] == e {
		delete(w.names, e.name)
	}
	for i, x := range w.entries {
		if x == e {
			w.entries = append(w.entries[:i:i], w.entries[i+1:]...)
			break
		}
	}
	cancel := e.runCancel
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// AddProbe runs check every tick (or WithInterval) in its own goroutine with
// a deadline (WithTimeout, default the miss threshold). At most one run per
// probe is in flight: a check that hangs is not started again until it
// returns, and the probe stalls, because a probe is judged by the time since
// it last returned nil, whether it hangs or keeps failing.
//
// The library registers its probes this way: a loopback echo through the
// real listener, a Docker ping, each logging sink (Degraded).
func (w *Watchdog) AddProbe(name string, sev Severity, check func(ctx context.Context) error, opts ...ProbeOption) error {
	if w == nil {
		return nil
	}
	if check == nil {
		return fmt.Errorf("watchdog: probe %q: check is nil: %w", name, errdefs.ErrInvalidRequest)
	}
	return w.register(&entry{name: name, kind: kindProbe, sev: sev, check: check}, opts)
}

// RemoveProbe stops watching the probe, heartbeat, mutex or pool called name
// and cancels its running check. Unknown names are ignored.
func (w *Watchdog) RemoveProbe(name string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	e := w.names[name]
	w.mu.Unlock()
	if e != nil {
		w.unregister(e)
	}
}

// Heartbeat is a liveness signal for a long-running loop: the loop calls
// Touch every iteration, and the watchdog escalates when it stops.
type Heartbeat struct {
	w *Watchdog
	e *entry
}

// Heartbeat registers a heartbeat called name. It is stalled when Touch has
// not been called for longer than the thresholds (set longer ones with
// WithThresholds for loops that sleep).
func (w *Watchdog) Heartbeat(name string, sev Severity, opts ...ProbeOption) (*Heartbeat, error) {
	if w == nil {
		return &Heartbeat{}, nil
	}
	e := &entry{name: name, kind: kindHeartbeat, sev: sev}
	if err := w.register(e, opts); err != nil {
		return nil, err
	}
	return &Heartbeat{w: w, e: e}, nil
}

// Touch records that the loop made progress. It takes no lock.
func (h *Heartbeat) Touch() {
	if h == nil || h.e == nil {
		return
	}
	h.e.lastOK.Store(h.w.now())
}

// Stop stops watching the heartbeat (the loop ended on purpose).
func (h *Heartbeat) Stop() {
	if h == nil || h.e == nil {
		return
	}
	h.w.unregister(h.e)
}

// Scope watches one long operation: call done when it ends. If it is still
// running limit after Scope, it misses, and then escalates to a megamiss
// dump on the usual schedule (megamiss-miss later). Scopes are Degraded: an
// overrunning operation is evidence, not a reason to restart the daemon (use
// a Fatal Heartbeat for that). Scopes may share a name. With an empty name or
// a limit that is not positive nothing is watched and a warning is logged.
func (w *Watchdog) Scope(name string, limit time.Duration, opts ...ProbeOption) (done func()) {
	if w == nil {
		return func() {}
	}
	if name == "" || limit <= 0 {
		w.emit(event{kind: evConfig, probe: name, msg: fmt.Sprintf("scope %q with limit %s is not watched: it needs a name and a positive limit", name, limit)})
		return func() {}
	}
	o, err := w.options(opts)
	if err != nil {
		w.emit(event{kind: evConfig, probe: name, err: err, msg: "scope not watched"})
		return func() {}
	}
	// The scope counts as last good one miss threshold before its deadline,
	// so it misses exactly when the limit passes.
	start := w.now()
	e := &entry{name: name, kind: kindScope, sev: Degraded}
	e.lastOK.Store(start + int64(limit) - int64(o.th.miss))
	e.detail = func(now int64) string {
		return fmt.Sprintf("running for %s, limit %s", fmtDur(now-start), limit)
	}
	if err := w.register(e, opts); err != nil {
		w.emit(event{kind: evConfig, probe: name, err: err, msg: "scope not watched"})
		return func() {}
	}
	return func() { w.unregister(e) }
}

// Pool is a worker pool the watchdog can watch.
type Pool interface {
	// Stats must be cheap and must not wait on the pool's workers.
	Stats() PoolStats
}

// PoolStats is a pool's state at one instant.
type PoolStats struct {
	Size      int    // workers
	Busy      int    // workers running a task
	Queued    int    // tasks waiting for a worker
	Completed uint64 // tasks finished since the pool started; it only grows
}

// WatchPool watches p: it is stalled when every worker stays busy and no
// task finishes for longer than the thresholds. A pool with an idle worker,
// or whose Completed count moved since the last look, is fine.
func (w *Watchdog) WatchPool(name string, sev Severity, p Pool, opts ...ProbeOption) error {
	if w == nil {
		return nil
	}
	if p == nil {
		return fmt.Errorf("watchdog: pool %q: pool is nil: %w", name, errdefs.ErrInvalidRequest)
	}
	var last atomic.Pointer[PoolStats]
	check := func(ctx context.Context) error {
		s := p.Stats()
		prev := last.Swap(&s)
		if s.Size <= 0 || s.Busy < s.Size || prev == nil || prev.Completed != s.Completed {
			return nil
		}
		return fmt.Errorf("all %d workers busy and no task finished since the last look (%d queued)", s.Size, s.Queued)
	}
	e := &entry{name: name, kind: kindPool, sev: sev, check: check}
	e.detail = func(int64) string {
		s := last.Load()
		if s == nil {
			return ""
		}
		return fmt.Sprintf("%d/%d busy, %d queued, %d done", s.Busy, s.Size, s.Queued, s.Completed)
	}
	return w.register(e, opts)
}

// launch runs e's check once; w.mu is held by the caller, which has marked
// e running.
func (w *Watchdog) launch(e *entry, now int64) {
	ctx, cancel := context.WithCancel(w.ctx)
	e.running, e.runStart, e.lastRun, e.ran, e.runCancel = true, now, now, true, cancel
	w.checks.Add(1)
	go w.run(e, ctx, cancel)
}

func (w *Watchdog) run(e *entry, ctx context.Context, cancel context.CancelFunc) {
	defer w.checks.Done()
	defer cancel()
	err := callCheck(e.check, ctx)
	now := w.now()
	if err == nil {
		e.lastOK.Store(now)
	}
	w.mu.Lock()
	e.running = false
	e.runCancel = nil
	if err != nil {
		e.lastErr = err.Error()
	} else {
		e.lastErr = ""
	}
	w.mu.Unlock()
}

// callCheck turns a panicking check into a failing one: a probe's bug must
// not take the daemon down.
func callCheck(check func(context.Context) error, ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("check panicked: %v", r)
		}
	}()
	return check(ctx)
}

func fmtDur(ns int64) string {
	return time.Duration(ns).Round(time.Millisecond).String()
}
