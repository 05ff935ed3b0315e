// Package watchdog is the library's runtime watchdog. Probes go through the
// real code paths (the scheduler, a loopback RPC, named locks, worker pools,
// the Docker engine, the logging sinks); a probe that has not succeeded for
// longer than its thresholds escalates: miss (counted, warned), megamiss (a
// goroutine dump to disk) and, for Fatal probes, kill (exit with status 70 so
// the supervisor restarts the daemon). The systemd watchdog is pinged only
// while every Fatal probe passes, which covers what an in-process watchdog
// cannot see: a frozen or starved process.
//
// Nothing on the monitor's path waits on a lock held across I/O, on the
// logger, or on user hooks: logging and hooks run on their own goroutine
// behind a bounded queue, dumps on theirs, and the kill path bounds its wait
// for the final dump and points fd 2 at the dump file before it exits.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// ExitCode is the status the watchdog exits with when a Fatal probe reaches
// its kill threshold (EX_SOFTWARE).
const ExitCode = 70

// Defaults, from reference/liveness.md §5.
const (
	DefaultTick         = time.Second
	DefaultMiss         = 2 * time.Second
	DefaultMegamiss     = 5 * time.Second
	DefaultKill         = 30 * time.Second
	DefaultMaxDirBytes  = 64 << 20
	DefaultMaxDumpBytes = 8 << 20
	DefaultDumpsPerHour = 5
)

// closeTimeout bounds how long Close waits for goroutines that run user code
// (a check, a logger, a hook) which may itself be wedged.
const closeTimeout = 5 * time.Second

// Severity says what a stalled probe may cause.
type Severity int

const (
	// Fatal probes escalate to kill and gate the systemd watchdog ping.
	Fatal Severity = iota + 1
	// Degraded probes are reported, dumped and counted, but never kill:
	// a slow journald is no reason to restart the box.
	Degraded
)

func (s Severity) String() string {
	switch s {
	case Fatal:
		return "fatal"
	case Degraded:
		return "degraded"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

func (s Severity) valid() bool { return s == Fatal || s == Degraded }

// Config configures a Watchdog. Zero fields take the defaults.
type Config struct {
	// Tick is how often the monitor wakes, runs the probes and judges them.
	Tick time.Duration
	// Miss, Megamiss and Kill are the default thresholds: how long a probe
	// may go without succeeding before each step of the ladder.
	Miss, Megamiss, Kill time.Duration
	// PauseGap: a tick that arrives this long after the previous one means
	// the whole process was frozen (suspend, VM pause, SIGSTOP); the clocks
	// are reset instead of producing verdicts. Default Tick+max(Tick, 1s),
	// at most Kill/2; it must stay well below Kill, or a pause just shorter
	// than it would kill. Negative turns the rule off (only tests want that).
	PauseGap time.Duration

	// Dir holds the goroutine dumps (<data-dir>/watchdog). Required.
	Dir string
	// MaxDirBytes caps the dumps in Dir; the oldest are removed. Default 64 MiB.
	MaxDirBytes int64
	// MaxDumpBytes caps the full (debug=2) section of one dump. Default 8 MiB.
	MaxDumpBytes int64
	// DumpsPerHour limits megamiss dumps (not Dump, SIGUSR1 or kill dumps).
	// Default 5; negative means no limit.
	DumpsPerHour int

	// Logger receives warnings and events, from a goroutine of its own: a
	// logger that blocks delays the log lines, never the watchdog.
	Logger hclog.Logger
	// Exit ends the process on kill. Default os.Exit, in which case fd 2 is
	// first pointed at the kill dump. With Exit set, fd 2 is left alone (a
	// test binary keeps its stderr) and the watchdog stops judging after it.
	Exit func(code int)
	// Clock is the source of time; default RealClock.
	Clock Clock

	// NotifySocket is the sd_notify socket; default $NOTIFY_SOCKET.
	NotifySocket string
	// WatchdogInterval is systemd's WatchdogSec; default $WATCHDOG_USEC
	// (honoured only when $WATCHDOG_PID is unset or ours). WATCHDOG=1 is sent
	// every half of it while every Fatal probe passes. New removes the three
	// variables from the environment so children do not inherit them.
	WatchdogInterval time.Duration

	// OnMegamiss is called once per megamiss episode of a probe, after the
	// dump was written (dumpPath empty when it was rate-limited or failed).
	// It runs on the watchdog's reporter goroutine.
	OnMegamiss func(probe string, dumpPath string)
	// Evidence, when set, appends more evidence (the log ring) to each dump,
	// after the goroutines. It must not block for long; the kill path does
	// not wait for it beyond its bound.
	Evidence func(w io.Writer)
}

func (c *Config) setDefaults() {
	if c.Tick == 0 {
		c.Tick = DefaultTick
	}
	if c.Miss == 0 {
		c.Miss = DefaultMiss
	}
	if c.Megamiss == 0 {
		c.Megamiss = DefaultMegamiss
	}
	if c.Kill == 0 {
		c.Kill = DefaultKill
	}
	if c.PauseGap == 0 {
		c.PauseGap = min(c.Tick+max(c.Tick, time.Second), c.Kill/2)
	}
	if c.MaxDirBytes == 0 {
		c.MaxDirBytes = DefaultMaxDirBytes
	}
	if c.MaxDumpBytes == 0 {
		c.MaxDumpBytes = DefaultMaxDumpBytes
	}
	if c.DumpsPerHour == 0 {
		c.DumpsPerHour = DefaultDumpsPerHour
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
}

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("watchdog config: "+format+": %w", append(args, errdefs.ErrInvalidRequest)...)
	}
	switch {
	case c.Tick < 0:
		return bad("Tick %s is negative", c.Tick)
	case c.Dir == "":
		return bad("Dir is empty: the watchdog needs a folder for its goroutine dumps")
	case c.MaxDirBytes < 0:
		return bad("MaxDirBytes %d is negative", c.MaxDirBytes)
	case c.MaxDumpBytes < 0:
		return bad("MaxDumpBytes %d is negative", c.MaxDumpBytes)
	case c.WatchdogInterval < 0:
		return bad("WatchdogInterval %s is negative", c.WatchdogInterval)
	}
	if err := checkThresholds(c.Tick, thresholds{c.Miss, c.Megamiss, c.Kill}); err != nil {
		return err
	}
	if c.PauseGap > 0 && (c.PauseGap < c.Tick+c.Tick/2 || c.PauseGap+c.Tick >= c.Kill) {
		return bad("PauseGap %s must be at least 1.5 ticks (%s) and end a tick before Kill %s", c.PauseGap, c.Tick+c.Tick/2, c.Kill)
	}
	return nil
}

type thresholds struct{ miss, megamiss, kill time.Duration }

func checkThresholds(tick time.Duration, t thresholds) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("watchdog thresholds: "+format+": %w", append(args, errdefs.ErrInvalidRequest)...)
	}
	switch {
	case t.miss <= 0 || t.megamiss <= 0 || t.kill <= 0:
		return bad("miss %s, megamiss %s and kill %s must all be positive", t.miss, t.megamiss, t.kill)
	case t.miss < tick:
		return bad("miss %s is shorter than the tick %s", t.miss, tick)
	case t.megamiss <= t.miss:
		return bad("megamiss %s must be longer than miss %s", t.megamiss, t.miss)
	case t.kill <= t.megamiss:
		return bad("kill %s must be longer than megamiss %s", t.kill, t.megamiss)
	}
	return nil
}

// Watchdog watches probes and escalates stalls. Create it with New, register
// probes, then Start it; Close stops it and waits for its goroutines.
//
// The registration methods (AddProbe, Heartbeat, NewMutex, WatchPool, Scope,
// RemoveProbe, Ready) are safe on a nil *Watchdog and then watch nothing, so
// library code runs unchanged without one.
type Watchdog struct {
	cfg        Config
	clock      Clock
	log        hclog.Logger
	base       time.Time
	pid        int
	notify     *notifier // nil without a notify socket
	wdInterval time.Duration

	ctx    context.Context // parent of every check's context; cancelled by Close
	cancel context.CancelFunc

	stop       chan struct{} // closed by Close
	dumpKick   chan struct{}
	refillKick chan struct{}
	events     chan event

	mu           sync.Mutex // guards the fields below; never held across I/O or user code
	entries      []*entry
	names        map[string]*entry
	nextID       uint64
	started      bool
	closed       bool
	ready        bool
	killed       bool
	lastTick     int64
	resetAt      int64
	lastPing     int64
	pinged       bool
	pauses       uint64
	dumpsSkipped uint64
	dumpTimes    []int64  // megamiss dumps within the last hour
	pendingDump  []string // probes whose megamiss dump the dumper has yet to write
	dumps        []model.DumpInfo
	dumpSeq      uint64

	spare         atomic.Pointer[spareFile]
	droppedEvents atomic.Uint64

	wg        sync.WaitGroup // monitor, dumper, reporter, signal handler, kill writer
	checks    sync.WaitGroup // running checks
	closeOnce sync.Once
	closeErr  error

	observe func(event) // tests: every event, synchronously, in order
}

// New checks cfg, reads the systemd variables, prepares the dump folder
// (pre-opening the next dump file) and registers the built-in scheduler
// probe. Nothing runs until Start.
func New(cfg Config) (*Watchdog, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	envSocket, envInterval, envErr := systemdEnv()
	if cfg.NotifySocket == "" {
		cfg.NotifySocket = envSocket
	}
	if cfg.WatchdogInterval == 0 {
		if envErr != nil {
			return nil, fmt.Errorf("watchdog: %w", envErr)
		}
		cfg.WatchdogInterval = envInterval
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("watchdog: dump folder %s: %w: %w", cfg.Dir, errdefs.ErrFilesystem, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watchdog{
		cfg:        cfg,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		base:       cfg.Clock.Now(),
		pid:        os.Getpid(),
		wdInterval: cfg.WatchdogInterval,
		ctx:        ctx,
		cancel:     cancel,
		stop:       make(chan struct{}),
		dumpKick:   make(chan struct{}, 1),
		refillKick: make(chan struct{}, 1),
		events:     make(chan event, 256),
		names:      make(map[string]*entry),
	}
	if cfg.NotifySocket != "" {
		w.notify = newNotifier(cfg.NotifySocket)
	}
	w.dumps = w.scanDumps()
	if err := w.refillSpare(); err != nil {
		cancel()
		return nil, err
	}
	if err := w.AddProbe("scheduler", Fatal, schedulerProbe); err != nil {
		w.closeSpare()
		cancel()
		return nil, err
	}
	return w, nil
}

// schedulerProbe is a goroutine round trip: it proves the scheduler still
// starts and runs goroutines and delivers channel wake-ups.
func schedulerProbe(ctx context.Context) error {
	done := make(chan struct{})
	go close(done)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("goroutine round trip: %w", ctx.Err())
	}
}

// Start starts the monitor and its helpers. Only the first call counts; a
// closed watchdog does not start.
func (w *Watchdog) Start() {
	w.mu.Lock()
	if w.started || w.closed {
		w.mu.Unlock()
		return
	}
	w.started = true
	now := w.now()
	w.lastTick = now
	w.resetAt = now // probes registered long before Start are not already late
	w.wg.Add(3)     // under w.mu, so Close cannot be waiting already
	w.mu.Unlock()

	if w.notify != nil && w.wdInterval > 0 && w.wdInterval/2 < w.cfg.Tick {
		w.emit(event{kind: evConfig, msg: fmt.Sprintf("systemd WatchdogSec %s is shorter than two ticks (%s): pings may come late", w.wdInterval, w.cfg.Tick)})
	}
	ticker := w.clock.NewTicker(w.cfg.Tick)
	go w.report()
	go w.dumper()
	go w.monitor(ticker)
}

// Close sends STOPPING=1, stops the monitor, cancels running checks and waits
// for every goroutine the watchdog started. A check, logger or hook that
// ignores cancellation for longer than a few seconds is named in the error
// (its goroutine is then left behind).
func (w *Watchdog) Close() error {
	w.closeOnce.Do(func() { w.closeErr = w.close() })
	return w.closeErr
}

func (w *Watchdog) close() error {
	if w.notify != nil {
		if err := w.notify.send("STOPPING=1"); err != nil {
			w.emit(event{kind: evNotifyFailed, err: err})
		}
	}
	w.mu.Lock()
	w.closed = true
	var cancels []context.CancelFunc
	for _, e := range w.entries {
		if e.runCancel != nil {
			cancels = append(cancels, e.runCancel)
		}
	}
	w.mu.Unlock()
	close(w.stop)
	w.cancel()
	for _, c := range cancels {
		c()
	}

	var errs []error
	deadline := time.Now().Add(closeTimeout)
	if !waitUntil(&w.checks, deadline) {
		errs = append(errs, fmt.Errorf("watchdog close: checks still running (%s): %w", w.runningNames(), errdefs.ErrTimeout))
	}
	if !waitUntil(&w.wg, deadline) {
		errs = append(errs, fmt.Errorf("watchdog close: monitor, dumper or reporter still busy (a wedged logger, hook or disk): %w", errdefs.ErrTimeout))
	}
	w.closeSpare()
	if w.notify != nil {
		w.notify.close()
	}
	return errors.Join(errs...)
}

// waitUntil waits for wg until deadline and reports whether it finished. The
// helper goroutine ends when wg does.
func waitUntil(wg *sync.WaitGroup, deadline time.Time) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func (w *Watchdog) runningNames() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := ""
	for _, e := range w.entries {
		if e.running {
			if s != "" {
				s += ", "
			}
			s += e.name
		}
	}
	return s
}

// Ready tells the service manager start-up is done (READY=1). The library
// calls it once it serves.
func (w *Watchdog) Ready() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.ready = true
	w.mu.Unlock()
	if w.notify != nil {
		if err := w.notify.send("READY=1"); err != nil {
			w.emit(event{kind: evNotifyFailed, err: err})
		}
	}
}

// Status reports every probe and the dumps on disk. It does no I/O.
func (w *Watchdog) Status() model.WatchdogStatus {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	st := model.WatchdogStatus{
		State:        model.WatchdogOK,
		Ready:        w.ready,
		Pauses:       w.pauses,
		DumpsSkipped: w.dumpsSkipped,
		Probes:       make([]model.ProbeStatus, 0, len(w.entries)),
		Dumps:        append([]model.DumpInfo(nil), w.dumps...),
	}
	for _, e := range w.entries {
		ps := w.probeStatus(e, now)
		if ps.State != model.ProbeOK {
			if e.sev == Fatal {
				st.State = model.WatchdogStalled
			} else if st.State == model.WatchdogOK {
				st.State = model.WatchdogDegraded
			}
		}
		st.Probes = append(st.Probes, ps)
	}
	return st
}

// probeStatus is e as the report shows it. w.mu is held; detail functions
// only read atomics.
func (w *Watchdog) probeStatus(e *entry, now int64) model.ProbeStatus {
	age := now - w.lastGood(e)
	ps := model.ProbeStatus{
		Name:             e.name,
		Kind:             e.kind.String(),
		Severity:         e.sev.String(),
		State:            model.ProbeOK,
		LastSuccessAgeMs: max(age, 0) / int64(time.Millisecond),
		Misses:           e.misses,
		Megamisses:       e.megamisses,
		LastError:        e.lastErr,
	}
	switch {
	case age > int64(e.th.megamiss):
		ps.State = model.ProbeMegamiss
	case age > int64(e.th.miss):
		ps.State = model.ProbeMiss
	}
	if e.running {
		ps.InFlightMs = max(now-e.runStart, 0) / int64(time.Millisecond)
	}
	if e.detail != nil {
		ps.Detail = e.detail(now)
	}
	return ps
}

// now is the watchdog's time: nanoseconds since New on its clock (monotonic
// with the real clock).
func (w *Watchdog) now() int64 { return int64(w.clock.Now().Sub(w.base)) }
