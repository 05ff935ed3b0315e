// Package service runs installed packages on the Docker Engine: one actor
// per package drives its main container to statusInfo.desired, restarts a
// crashed process with backoff, runs health checks, and survives engine
// restarts. RPCs only change desired state (StartOS's control.rs table).
package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/internal/retry"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/watchdog"
)

// Options configure a Manager. Durations left zero take StartOS's values.
type Options struct {
	Store    *db.Store
	Engine   *container.Client
	DataDir  string
	Logger   hclog.Logger
	Watchdog *watchdog.Watchdog // may be nil

	// HostIP is the address lan-config ports are published on; default
	// 127.0.0.1.
	HostIP string

	HealthGrace    time.Duration // after start, before the first check; default 5s
	HealthInterval time.Duration // between rounds, after completion; default 15s
	HealthTimeout  time.Duration // per check unless the manifest says; default 30s

	RestartBackoff    time.Duration // first delay after a crash; default 1s, doubling
	RestartBackoffMax time.Duration // default 1m
	// ResyncInterval is how often the manager lists the engine's
	// containers (one call for every package) to catch what the event
	// stream missed; each actor also looks on its own every six of these.
	// Default 10s.
	ResyncInterval time.Duration
	// ActionTimeout bounds an action; default 5m.
	ActionTimeout time.Duration
	// ConfigTimeout bounds each config procedure (get, set, properties,
	// a dependency's check and auto-configure); default 1m.
	ConfigTimeout time.Duration
	// ProcedureTimeout bounds RunProcedure when ctx has no deadline;
	// default 30m.
	ProcedureTimeout time.Duration
	// StartConcurrency bounds how many packages are created and started
	// at once (at boot, every package wants to start together; the engine
	// does them no faster all at once, and the first ones wait for the
	// last); default 4.
	StartConcurrency int
	// SweepInterval is how often the sweeper looks for engine objects no
	// package owns; default 10m (sooner after an engine restart, and with a
	// backoff from 5 s while something is left).
	SweepInterval time.Duration
	// Notify raises a notification (the sweeper's, once, for objects that
	// survive a restart); nil raises none.
	Notify func(ctx context.Context, in model.NotificationInput)
	// CrashLoopRestarts crashes within CrashLoopWindow make a service
	// crash-looping: one notification per episode; default 5 in 10m.
	CrashLoopRestarts int
	CrashLoopWindow   time.Duration
	// HealthAlertAfter is how long a health check fails before the owner
	// is notified (once per episode); default 5m.
	HealthAlertAfter time.Duration
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.HealthGrace, 5*time.Second)
	def(&o.HealthInterval, 15*time.Second)
	def(&o.HealthTimeout, 30*time.Second)
	def(&o.RestartBackoff, time.Second)
	def(&o.RestartBackoffMax, time.Minute)
	def(&o.ResyncInterval, 10*time.Second)
	def(&o.ActionTimeout, 5*time.Minute)
	def(&o.ConfigTimeout, time.Minute)
	def(&o.ProcedureTimeout, 30*time.Minute)
	def(&o.SweepInterval, 10*time.Minute)
	def(&o.CrashLoopWindow, 10*time.Minute)
	def(&o.HealthAlertAfter, 5*time.Minute)
	if o.CrashLoopRestarts <= 0 {
		o.CrashLoopRestarts = 5
	}
	if o.StartConcurrency <= 0 {
		o.StartConcurrency = 4
	}
	if o.HostIP == "" {
		o.HostIP = "127.0.0.1"
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
}

// Manager runs one actor per installed package.
type Manager struct {
	opts   Options
	store  *db.Store
	engine *container.Client
	log    hclog.Logger
	box    string // serverInfo.id: the LabelBox of everything we create
	sweep  *sweeper

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // actors, the event watcher, log followers

	// failWrite, when set (by tests), fails state writes of mutateEntry.
	failWrite atomic.Pointer[func() error]
	// startSlots bounds concurrent container starts (StartConcurrency).
	startSlots chan struct{}
	// inStartSlot, when set (by tests), runs while an actor holds a start
	// slot.
	inStartSlot atomic.Pointer[func(id string)]

	startsMu  sync.Mutex    // guards the two below; never held across I/O
	starting  int           // actors waiting for or holding a start slot
	startsEnd chan struct{} // closed when starting drops to 0

	mu      sync.Mutex // guards the fields below; never held across I/O
	actors  map[string]*actor
	started bool
	closed  bool
	halted  bool // Halt ran: no actor starts until Resume
}

// New checks opts and returns a Manager. It starts nothing: Start reconciles
// the installed packages, Adopt takes on one.
func New(opts Options) (*Manager, error) {
	switch {
	case opts.Store == nil:
		return nil, fmt.Errorf("service manager: no state store: %w", errdefs.ErrInvalidRequest)
	case opts.Engine == nil:
		return nil, fmt.Errorf("service manager: no container engine client: %w", errdefs.ErrInvalidRequest)
	case opts.DataDir == "":
		return nil, fmt.Errorf("service manager: no data dir: %w", errdefs.ErrInvalidRequest)
	}
	opts.setDefaults()
	_, doc := opts.Store.Read()
	m := &Manager{
		opts: opts, store: opts.Store, engine: opts.Engine, log: opts.Logger.Named("service"),
		box: doc.Public.ServerInfo.ID, sweep: newSweeper(opts.DataDir), actors: map[string]*actor{},
		startSlots: make(chan struct{}, opts.StartConcurrency),
	}
	if err := m.sweep.load(); err != nil {
		m.log.Warn("reading the engine leftovers of the last run; starting afresh", "path", m.sweep.path, "error", err)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Start applies StartOS's boot rules to every installed package (started
// cleared, health cleared, restarting → running, backing-up resolved), then
// starts the engine event watcher and one actor per package. It does not
// wait for the engine: actors show "waiting for the container engine" in
// statusInfo.error and retry with backoff until it answers.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("service manager is closed: %w", errdefs.ErrUnavailable)
	}
	if m.started {
		m.mu.Unlock()
		return nil
	}
	m.started = true
	m.mu.Unlock()

	var ids []string
	_, err := m.store.Mutate(ctx, func(d *model.Document) error {
		ids = ids[:0]
		for id, e := range d.Public.PackageData {
			if e.StateInfo.State != model.PackageInstalled {
				continue
			}
			e.StatusInfo.Started = nil
			e.StatusInfo.Health = map[string]model.HealthCheckResult{}
			e.StatusInfo.Error = nil
			e.StatusInfo.Desired = desiredOnBoot(e.StatusInfo.Desired)
			d.Public.PackageData[id] = e
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("service manager: boot: %w", err)
	}
	m.wg.Add(3)
	go func() {
		defer m.wg.Done()
		m.watchEvents(m.ctx)
	}()
	go func() {
		defer m.wg.Done()
		m.resyncLoop(m.ctx)
	}()
	go func() {
		defer m.wg.Done()
		m.sweepLoop(m.ctx)
	}()
	for _, id := range ids {
		m.spawn(id)
	}
	return nil
}

// Close stops every actor and watcher and waits for them. Containers keep
// running: a restarted daemon adopts them.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	actors := m.actors
	m.actors = map[string]*actor{}
	m.mu.Unlock()
	m.cancel()
	for _, a := range actors {
		<-a.done
	}
	m.wg.Wait()
	return nil
}

// beginStart and endStart bracket an actor's start (the wait for a slot
// included); startsDone is closed when none is under way.
func (m *Manager) beginStart() {
	m.startsMu.Lock()
	m.starting++
	m.startsMu.Unlock()
}

func (m *Manager) endStart() {
	m.startsMu.Lock()
	m.starting--
	if m.starting == 0 && m.startsEnd != nil {
		close(m.startsEnd)
		m.startsEnd = nil
	}
	m.startsMu.Unlock()
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (m *Manager) startsDone() <-chan struct{} {
	m.startsMu.Lock()
	defer m.startsMu.Unlock()
	if m.starting == 0 {
		return closedChan
	}
	if m.startsEnd == nil {
		m.startsEnd = make(chan struct{})
	}
	return m.startsEnd
}

// spawn starts the actor of id unless it runs; it kicks it either way.
func (m *Manager) spawn(id string) {
	m.mu.Lock()
	if m.closed || m.halted {
		m.mu.Unlock()
		return
	}
	a, ok := m.actors[id]
	if !ok {
		a = newActor(m, id)
		m.actors[id] = a
	}
	m.mu.Unlock()
	if !ok {
		a.start(m.ctx)
	}
	a.kick()
}

func (m *Manager) actor(id string) *actor {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.actors[id]
}

// lookAtProbes has every actor whose health probe the engine runs look at
// its newest outcome: announcements may have been missed.
func (m *Manager) lookAtProbes() {
	for _, a := range m.allActors() {
		a.probed()
	}
}

func (m *Manager) kickAll() {
	for _, a := range m.allActors() {
		a.kick()
	}
}

// allActors returns every actor, for calls made without the lock.
func (m *Manager) allActors() []*actor {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := make([]*actor, 0, len(m.actors))
	for _, a := range m.actors {
		list = append(list, a)
	}
	return list
}

// installed returns package id's entry and manifest; the package must be
// installed.
func (m *Manager) installed(id string) (model.PackageDataEntry, *manifest.Manifest, error) {
	e, ok := m.store.View().Package(id)
	if !ok {
		return e, nil, fmt.Errorf("package %q is not installed: %w", id, errdefs.ErrNotFound)
	}
	if e.StateInfo.State != model.PackageInstalled {
		return e, nil, fmt.Errorf("package %q is %s, not installed: %w", id, e.StateInfo.State, errdefs.ErrInvalidRequest)
	}
	mf, err := parseManifest(id, e.StateInfo.Manifest)
	return e, mf, err
}

func parseManifest(id string, raw []byte) (*manifest.Manifest, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("package %q has no manifest recorded: %w", id, errdefs.ErrInvalidRequest)
	}
	mf, _, err := manifest.ParseArchived(raw)
	if err != nil {
		return nil, fmt.Errorf("package %q: recorded manifest: %w", id, err)
	}
	if mf.ID != id {
		return nil, fmt.Errorf("package %q: recorded manifest is for %q: %w", id, mf.ID, errdefs.ErrInvalidRequest)
	}
	return mf, nil
}

// mutateEntry changes package id's entry, if it still exists.
func (m *Manager) mutateEntry(ctx context.Context, id string, fn func(e *model.PackageDataEntry)) error {
	if f := m.failWrite.Load(); f != nil {
		if err := (*f)(); err != nil {
			return err
		}
	}
	_, err := m.store.MutatePackage(ctx, id, func(e *model.PackageDataEntry) error {
		fn(e)
		if e.StatusInfo.Health == nil {
			e.StatusInfo.Health = map[string]model.HealthCheckResult{}
		}
		return nil
	})
	if errors.Is(err, db.ErrNoPackage) {
		return nil
	}
	return err
}

// Adopt creates package id's network and main container from the manifest
// recorded in the document (its images already loaded) and starts its
// actor, which then drives it to statusInfo.desired.
func (m *Manager) Adopt(ctx context.Context, id string) error {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return fmt.Errorf("adopt %q: service manager is closed: %w", id, errdefs.ErrUnavailable)
	}
	_, mf, err := m.installed(id)
	if err != nil {
		return fmt.Errorf("adopt: %w", err)
	}
	if _, err := m.ensureContainer(ctx, mf); err != nil {
		return fmt.Errorf("adopt %q: %w", id, err)
	}
	configured := m.hasSavedConfig(mf)
	if err := m.mutateEntry(ctx, id, func(e *model.PackageDataEntry) {
		e.CurrentDependencies = currentDependencies(mf)
		switch {
		case mf.Config == nil:
			e.StatusInfo.Configured = nil
		case e.StatusInfo.Configured == nil || configured:
			e.StatusInfo.Configured = &configured
		}
		// An update that brings a config spec: the package waits for
		// its config instead of running without one.
		if e.StatusInfo.NeedsConfig() && e.StatusInfo.Desired.Main == model.DesiredRunning {
			e.StatusInfo.Desired = model.DesiredStatus{Main: model.DesiredStopped}
		}
	}); err != nil {
		return fmt.Errorf("adopt %q: %w", id, err)
	}
	m.spawn(id)
	m.checkDependencyConfigsLater(id, mf)
	return nil
}

// Release stops package id's actor, stops its container (SIGTERM, then kill
// after the manifest's sigterm-timeout), and removes every container
// labelled for the package (procedure containers a crash left too) and its
// network. It waits, and is idempotent. Objects the engine refuses to
// remove are recorded for the sweeper and reported as a *LeftoverError.
func (m *Manager) Release(ctx context.Context, id string) error {
	m.stopActor(id)
	timeout := DefaultSigtermTimeout
	if _, mf, err := m.installedAny(id); err == nil {
		timeout = sigtermTimeout(&mf.Main)
	}
	if err := m.removePackageObjects(ctx, id, timeout); err != nil {
		return fmt.Errorf("release %q: %w", id, err)
	}
	return m.mutateEntry(ctx, id, func(e *model.PackageDataEntry) {
		e.StatusInfo.Started = nil
		e.StatusInfo.Health = map[string]model.HealthCheckResult{}
	})
}

// installedAny is installed without the state check, for Release during an
// update or removal.
func (m *Manager) installedAny(id string) (model.PackageDataEntry, *manifest.Manifest, error) {
	e, ok := m.store.View().Package(id)
	if !ok {
		return e, nil, fmt.Errorf("package %q: %w", id, errdefs.ErrNotFound)
	}
	mf, err := parseManifest(id, e.StateInfo.Manifest)
	return e, mf, err
}

func (m *Manager) stopActor(id string) {
	m.mu.Lock()
	a := m.actors[id]
	delete(m.actors, id)
	m.mu.Unlock()
	if a != nil {
		a.cancel()
		<-a.done
	}
}

// removeContainer stops (gracefully) and removes the main container.
func (m *Manager) removeContainer(ctx context.Context, id string, timeout time.Duration) error {
	name := ContainerName(id)
	st, err := m.engine.InspectContainer(ctx, name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Running {
		if err := m.engine.StopContainer(ctx, name, timeout); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			// The stop call itself failed; force the removal below.
			m.log.Warn("stop failed; killing", "package", id, "error", err)
		}
	}
	// The engine sometimes cannot unmount a container's filesystem for a
	// moment ("device or resource busy", seen after an engine restart); a
	// few tries ride that out.
	wait := retry.Backoff{First: 500 * time.Millisecond, Max: 8 * time.Second}
	for try := 1; ; try++ {
		err = m.engine.RemoveContainer(ctx, name, true)
		if err == nil || errors.Is(err, errdefs.ErrNotFound) {
			return nil
		}
		if try == 5 {
			return err
		}
		m.log.Warn("container removal failed; retrying", "package", id, "error", err)
		if !wait.Sleep(ctx) {
			return err
		}
	}
}

// StartPackage asks for package id to run (package.start). It refuses,
// with ErrDependency naming the reason, when a required dependency is not
// satisfied. (Start, without a package, is the daemon's boot.)
func (m *Manager) StartPackage(ctx context.Context, id string) error {
	_, mf, err := m.installed(id)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if e, _, _ := m.installed(id); e.StatusInfo.NeedsConfig() {
		return fmt.Errorf("start %q: it needs config: save one with package.config.set (start-cli package config edit %s) first: %w", id, id, errdefs.ErrInvalidRequest)
	}
	if err := m.checkRequired(mf); err != nil {
		return fmt.Errorf("start %q: %w", id, err)
	}
	return m.setDesired(ctx, id, func(d model.DesiredStatus, _ bool) model.DesiredStatus { return desiredOnStart(d) })
}

// StopPackage asks for package id to stop (package.stop).
func (m *Manager) StopPackage(ctx context.Context, id string) error {
	if _, _, err := m.installed(id); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if err := m.setDesired(ctx, id, func(d model.DesiredStatus, _ bool) model.DesiredStatus { return desiredOnStop(d) }); err != nil {
		return err
	}
	// The owner's stop ends a crash or health episode even when the
	// actor's next pass finds the service wanted again (a start right
	// after): it must not take the stop for a pause within the episode.
	if a := m.actor(id); a != nil {
		a.ownerStopped.Store(true)
		a.kick()
	}
	return nil
}

// RestartPackage asks for package id to restart (package.restart).
func (m *Manager) RestartPackage(ctx context.Context, id string) error {
	if _, _, err := m.installed(id); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return m.setDesired(ctx, id, desiredOnRestart)
}

func (m *Manager) setDesired(ctx context.Context, id string, fn func(model.DesiredStatus, bool) model.DesiredStatus) error {
	_, err := m.store.Mutate(ctx, func(d *model.Document) error {
		e, ok := d.Public.PackageData[id]
		if !ok {
			return fmt.Errorf("package %q is not installed: %w", id, errdefs.ErrNotFound)
		}
		e.StatusInfo.Desired = fn(e.StatusInfo.Desired, e.StatusInfo.Started != nil)
		d.Public.PackageData[id] = e
		return nil
	})
	if err != nil {
		return err
	}
	if a := m.actor(id); a != nil {
		a.kick()
	}
	return nil
}
