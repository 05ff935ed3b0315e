package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/startos-go/startos/internal/retry"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// reconcileLimit is how long one reconcile may take (it may load a
// package's images from its archive) before the watchdog reports it.
const reconcileLimit = 15 * time.Minute

// waitingForEngine is the statusInfo.error shown while the engine is down.
const waitingForEngine = "waiting for the container engine"

// actor drives one package's main container to its desired state. All of
// its fields below kick/cancel/done are owned by its run goroutine.
type actor struct {
	m      *Manager
	id     string
	kickc  chan struct{}
	probec chan struct{} // the engine announced a health change (followProbe)
	cancel context.CancelFunc
	done   chan struct{}

	mfRaw []byte
	mf    *manifest.Manifest

	health     *healthRun
	backoff    retry.Backoff // the delay after a crash or failed start
	notBefore  time.Time     // no start attempt before this
	engineDown bool          // the last engine call found the engine down
	lastErr    string        // what statusInfo.error was last written as, by us
	// writeFailed: a state write of this pass failed; the next pass comes
	// soon, and since every write is derived from the document and the
	// engine, it is made again.
	writeFailed bool
	alerts      alertState // crash-loop and failing-health episodes (alerts.go)

	// seen is the main container as the last pass found it; the manager's
	// resync compares its one listing of every container with it and kicks
	// the actors whose container changed unseen.
	seen atomic.Pointer[seenContainer]
	// ownerStopped: package.stop was called since the last pass.
	ownerStopped atomic.Bool
}

// seenContainer is what an actor last saw of its main container.
type seenContainer struct {
	exists  bool
	id      string
	running bool
}

// ownResync is how long an actor in a steady state waits before it looks
// at the engine on its own: the manager's listing every ResyncInterval
// does the looking for all of them in one call (an inspect per package
// every ten seconds was most of an idle daemon's CPU with 100 packages).
func (a *actor) ownResync() time.Duration { return 30 * a.m.opts.ResyncInterval }

func newActor(m *Manager, id string) *actor {
	a := &actor{m: m, id: id, kickc: make(chan struct{}, 1), probec: make(chan struct{}, 1), done: make(chan struct{})}
	a.resetAlerts()
	return a
}

func (a *actor) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	a.cancel = cancel
	go a.run(ctx)
}

// kick asks the actor to reconcile soon; it never blocks.
func (a *actor) kick() {
	select {
	case a.kickc <- struct{}{}:
	default:
	}
}

func (a *actor) run(ctx context.Context) {
	defer close(a.done)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		a.watchStatus(ctx)
	}()
	defer func() { <-watchDone }()
	defer a.stopHealth()

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kickc:
		case <-timer.C:
		}
		// Every engine call has a deadline, so a reconcile that runs this
		// long is a bug worth a goroutine dump (Degraded: never a kill).
		done := a.m.opts.Watchdog.Scope("service."+a.id, reconcileLimit)
		a.writeFailed = false
		next := a.reconcile(ctx)
		if a.writeFailed {
			next = min(next, a.m.opts.RestartBackoff)
		}
		done()
		timer.Reset(next)
	}
}

// watchStatus kicks the actor whenever the package's statusInfo changes
// (package.start from another process, the installer, ...).
func (a *actor) watchStatus(ctx context.Context) {
	ptr := "/public/packageData/" + a.id + "/statusInfo"
	for ctx.Err() == nil {
		_, f, err := a.m.store.Subscribe(ptr, 0)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		a.kick()
		for {
			rev, err := f.Recv(ctx)
			if err != nil {
				break
			}
			if touchesMoreThanHealth(rev.Patch) {
				a.kick()
			}
		}
		f.Close()
	}
}

// touchesMoreThanHealth reports whether a patch of statusInfo changes
// anything but its health results, which the actor writes and never acts on
// (each kick costs an inspect).
func touchesMoreThanHealth(p model.Patch) bool {
	for _, op := range p {
		if op.Path != "/health" && !strings.HasPrefix(op.Path, "/health/") {
			return true
		}
	}
	return false
}

// reconcile compares the document with the engine once and acts; it returns
// how long until it should look again.
func (a *actor) reconcile(ctx context.Context) time.Duration {
	resync := a.ownResync()
	if a.ownerStopped.Swap(false) {
		a.stopHealth()
		a.endEpisode()
	}
	// One entry, not the whole document: every actor reconciles on its
	// own timer, so a copy of the document here made n packages cost n².
	e, ok := a.m.store.View().Package(a.id)
	if !ok || e.StateInfo.State != model.PackageInstalled {
		a.stopHealth()
		return resync
	}
	if a.mf == nil || !bytes.Equal(a.mfRaw, e.StateInfo.Manifest) {
		mf, err := parseManifest(a.id, e.StateInfo.Manifest)
		if err != nil {
			a.setError(ctx, err.Error())
			return resync
		}
		a.mf, a.mfRaw = mf, e.StateInfo.Manifest
	}
	mf := a.mf
	name := ContainerName(a.id)

	st, err := a.m.engine.InspectContainer(ctx, name)
	exists := err == nil
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		if ctx.Err() != nil {
			return resync
		}
		return a.engineTrouble(ctx, err)
	}
	a.seen.Store(&seenContainer{exists: exists, id: st.ID, running: exists && st.Running})
	wasDown := a.engineDown
	a.engineDown = false
	if wasDown && a.lastErr != "" {
		a.setError(ctx, "")
	}
	stale := exists && st.Labels[LabelVersion] != mf.Version.String()
	running := exists && st.Running && !stale
	started := e.StatusInfo.Started != nil
	desired := e.StatusInfo.Desired

	switch {
	case wantsStop(desired, started):
		a.stopHealth()
		if exists && st.Running {
			if err := a.m.engine.StopContainer(ctx, name, sigtermTimeout(&mf.Main)); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				if ctx.Err() != nil {
					return resync
				}
				// Never stuck stopping: kill, and retry on the next pass.
				a.m.log.Warn("stop failed; killing", "package", a.id, "error", err)
				if kerr := a.m.engine.KillContainer(ctx, name, ""); kerr != nil && !errors.Is(kerr, errdefs.ErrNotFound) {
					a.setError(ctx, "stopping: "+err.Error())
					return a.m.opts.RestartBackoff
				}
			}
		}
		if started || len(e.StatusInfo.Health) > 0 || e.StatusInfo.Error != nil {
			if a.write(ctx, "clearing the status of a stopped service", func(e *model.PackageDataEntry) {
				e.StatusInfo.Started = nil
				e.StatusInfo.Health = map[string]model.HealthCheckResult{}
				e.StatusInfo.Error = nil
			}) {
				a.lastErr = ""
			}
		}
		a.endEpisode()
		return resync

	case wantsRun(desired, started) && running:
		if !started {
			a.markStarted(ctx, st.StartedAt)
		}
		a.startHealth(mf, st)
		if time.Since(st.StartedAt) >= a.m.opts.RestartBackoffMax/2 {
			a.backoff.Reset()
		}
		a.noteRunning()
		return resync

	case wantsRun(desired, started):
		if started && !stale {
			// It was up and is not: it crashed (or the engine lost it).
			a.stopHealth()
			msg := "the main process stopped"
			if exists && !stale {
				msg = fmt.Sprintf("the main process exited with code %d", st.ExitCode)
				if st.OOMKilled {
					msg += " (out of memory)"
				}
				msg += a.lastOutput(ctx)
			}
			if wasDown {
				a.notBefore = time.Time{} // the engine restarted: no crash backoff
			} else {
				a.crashed(ctx, msg+"; restarting")
			}
			if !a.write(ctx, "recording that the service stopped", func(e *model.PackageDataEntry) {
				e.StatusInfo.Started = nil
				e.StatusInfo.Health = map[string]model.HealthCheckResult{}
			}) {
				// Not recorded: the next pass sees it again; do not start
				// a new run that the stale started time would misdescribe.
				return a.m.opts.RestartBackoff
			}
		}
		if wait := time.Until(a.notBefore); wait > 0 {
			return wait
		}
		return a.startMain(ctx, mf, resync)

	default:
		a.stopHealth()
		if started || len(e.StatusInfo.Health) > 0 {
			a.write(ctx, "clearing the status of an idle service", func(e *model.PackageDataEntry) {
				e.StatusInfo.Started = nil
				e.StatusInfo.Health = map[string]model.HealthCheckResult{}
			})
		}
		return resync
	}
}

// startMain creates the container if needed and starts it, in one of the
// manager's start slots.
func (a *actor) startMain(ctx context.Context, mf *manifest.Manifest, resync time.Duration) time.Duration {
	name := ContainerName(a.id)
	a.m.beginStart()
	defer a.m.endStart()
	select {
	case a.m.startSlots <- struct{}{}:
	case <-ctx.Done():
		return resync
	}
	if f := a.m.inStartSlot.Load(); f != nil {
		(*f)(a.id)
	}
	st, err := a.m.ensureContainer(ctx, mf)
	if err == nil {
		err = a.m.engine.StartContainer(ctx, name)
	}
	<-a.m.startSlots
	if err != nil {
		if ctx.Err() != nil {
			return resync
		}
		if errors.Is(err, errdefs.ErrUnavailable) {
			return a.engineTrouble(ctx, err)
		}
		return a.crashed(ctx, "starting: "+err.Error())
	}
	st, err = a.m.engine.InspectContainer(ctx, name)
	if err != nil {
		return a.m.opts.RestartBackoff
	}
	a.seen.Store(&seenContainer{exists: true, id: st.ID, running: st.Running})
	if !st.Running {
		return a.crashed(ctx, fmt.Sprintf("the main process exited right after start with code %d", st.ExitCode)+a.lastOutput(ctx))
	}
	a.markStarted(ctx, st.StartedAt)
	a.startHealth(mf, st)
	return resync
}

// crashed records msg in statusInfo.error and schedules the next start
// after the backoff, which doubles up to RestartBackoffMax.
func (a *actor) crashed(ctx context.Context, msg string) time.Duration {
	wait := a.backoff.Next()
	a.notBefore = time.Now().Add(wait)
	a.m.log.Warn("service failed", "package", a.id, "error", msg, "retry_in", wait)
	a.setError(ctx, msg)
	a.noteCrash(ctx, msg)
	return wait
}

func (a *actor) engineTrouble(ctx context.Context, err error) time.Duration {
	a.engineDown = true
	msg := err.Error()
	if errors.Is(err, errdefs.ErrUnavailable) || errors.Is(err, errdefs.ErrTimeout) {
		msg = waitingForEngine + ": " + msg
	}
	a.setError(ctx, msg)
	// Look again within ten first delays: the engine may be back soon.
	return a.backoff.NextAtMost(10 * a.m.opts.RestartBackoff)
}

// markStarted records that the main process runs: started set, the error
// cleared, a pending restart moved on, health checks shown as starting.
func (a *actor) markStarted(ctx context.Context, at time.Time) {
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC()
	checks := a.mf.HealthChecks
	ok := a.write(ctx, "recording that the service started", func(e *model.PackageDataEntry) {
		e.StatusInfo.Started = &at
		e.StatusInfo.Error = nil
		e.StatusInfo.Desired = desiredOnStarted(e.StatusInfo.Desired)
		h := map[string]model.HealthCheckResult{}
		for id, c := range checks {
			if c != nil {
				h[id] = model.HealthCheckResult{Name: c.Name, Result: model.HealthStarting}
			}
		}
		e.StatusInfo.Health = h
	})
	if ok {
		a.lastErr = ""
	}
}

// setError sets (or, with "", clears) statusInfo.error. It skips a write
// only when the same message was written successfully before; a failed
// write is made again on the next pass.
func (a *actor) setError(ctx context.Context, msg string) {
	if msg == a.lastErr {
		return
	}
	if a.write(ctx, "recording the service's error", func(e *model.PackageDataEntry) {
		if msg == "" {
			e.StatusInfo.Error = nil
		} else {
			e.StatusInfo.Error = &model.ErrorData{Details: msg}
		}
	}) {
		a.lastErr = msg
	}
}

// write changes the package's entry and reports whether it was written. A
// failure is logged and marks the pass, so the actor looks again soon and
// makes the write again.
func (a *actor) write(ctx context.Context, what string, fn func(e *model.PackageDataEntry)) bool {
	if err := a.m.mutateEntry(ctx, a.id, fn); err != nil {
		if ctx.Err() == nil {
			a.m.log.Warn(what+": writing the state failed; retrying soon", "package", a.id, "error", err)
		}
		a.writeFailed = true
		return false
	}
	return true
}

// watchedEvents are the container events that can change what an actor
// sees (each a kick, which costs an inspect), and a change of the health
// the engine's probe found ("health_status: healthy", the engine matches the
// prefix). Exec events (three per probe) and the like are left out.
var watchedEvents = []string{"create", "start", "restart", "die", "kill", "oom", "stop", "destroy", "pause", "unpause", "rename", "update", "health_status"}

// watchEvents turns engine container events into kicks, resubscribing when
// the stream ends (an engine restart ends it) and then kicking every actor,
// since events may have been missed.
func (m *Manager) watchEvents(ctx context.Context) {
	delay := retry.Backoff{First: 100 * time.Millisecond, Max: 5 * time.Second}
	for ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		evs, errc := m.engine.Events(sctx, LabelPackage, time.Time{}, watchedEvents...)
		got := false
		for ev := range evs {
			got = true
			a := m.actor(ev.Labels[LabelPackage])
			switch {
			case a == nil:
			case strings.HasPrefix(ev.Action, "health_status"):
				a.probed()
			default:
				a.kick()
			}
		}
		err := <-errc
		windowEnded := sctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return
		}
		if got {
			delay.Reset()
		}
		m.log.Debug("engine event stream ended; resubscribing", "error", err)
		// Events may have been missed, and an engine that went away must
		// show in every service at once.
		m.kickAll()
		if !windowEnded && m.waitEngine(ctx) {
			// The stream broke (an engine restart or upgrade): say when
			// the engine is back, as this is where services are
			// reconciled and what it left is swept.
			m.log.Info("the container engine is answering again; reconciling every service", "after", err)
		}
		m.kickAll()
		m.lookAtProbes()
		m.kickSweep()
		if !delay.Sleep(ctx) {
			return
		}
	}
}

// resyncLoop lists the engine's package containers every ResyncInterval,
// in one call, and kicks each actor whose main container is not as it last
// saw it: what the event stream missed is caught without an inspect per
// package.
func (m *Manager) resyncLoop(ctx context.Context) {
	t := time.NewTicker(m.opts.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.resyncOnce(ctx)
	}
}

// resyncOnce is one pass of resyncLoop.
func (m *Manager) resyncOnce(ctx context.Context) {
	list, err := m.engine.ListContainers(ctx, LabelPackage)
	if err != nil {
		// The engine is away: the event watcher sees the stream end and
		// kicks every actor when it is back.
		return
	}
	mains := make(map[string]container.ContainerState, len(list))
	for _, c := range list {
		if id := c.Labels[LabelPackage]; c.Name == ContainerName(id) {
			mains[id] = c
		}
	}
	for _, a := range m.allActors() {
		seen := a.seen.Load()
		if seen == nil {
			continue // it has not looked yet: its first pass is coming
		}
		c, exists := mains[a.id]
		if exists != seen.exists || exists && (c.ID != seen.id || c.Running != seen.running) {
			a.kick()
		}
	}
}

// waitEngine pings the engine with a backoff until it answers (true) or
// ctx ends (false).
func (m *Manager) waitEngine(ctx context.Context) bool {
	wait := retry.Backoff{First: 100 * time.Millisecond, Max: 2 * time.Second}
	for {
		if _, err := m.engine.Ping(ctx); err == nil {
			return true
		}
		if !wait.Sleep(ctx) {
			return false
		}
	}
}

// lastOutput returns ": " and the container's last few stderr lines (its
// last words), or "" when there are none.
func (a *actor) lastOutput(ctx context.Context) string {
	var lines []string
	err := a.m.engine.Logs(ctx, ContainerName(a.id), container.LogsOptions{Tail: 20}, func(l container.LogLine) error {
		if l.Stream == "stderr" {
			lines = append(lines, l.Text)
		}
		return nil
	})
	if err != nil || len(lines) == 0 {
		return ""
	}
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return ": " + strings.Join(lines, "\n")
}
