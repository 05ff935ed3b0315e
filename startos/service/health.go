package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/startos-go/startos/internal/retry"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// Health check exit codes (StartOS 0.3).
const (
	exitDisabled = 59
	exitStarting = 60
	exitLoading  = 61
)

const timedOut = "Timed out. Retrying soon..."

// startsWaitMax bounds how long a health round waits for package starts
// under way: longer than a boot of a few hundred packages takes, so checks
// never starve behind starts that keep coming.
const startsWaitMax = 3 * time.Minute

// healthRun is the health loop of one run of the main container.
type healthRun struct {
	startedAt time.Time
	cancel    context.CancelFunc
	done      chan struct{}
}

// startHealth starts the health loop for the container st, started at
// st.StartedAt, unless one runs for that start already.
func (a *actor) startHealth(mf *manifest.Manifest, st container.ContainerState) {
	if len(mf.HealthChecks) == 0 {
		return
	}
	startedAt := st.StartedAt
	if a.health != nil {
		if a.health.startedAt.Equal(startedAt) {
			return
		}
		a.stopHealth()
	}
	// The engine runs the check when the container has the probe this
	// build would give it; a container made otherwise (by an older build,
	// or with other intervals) has its checks run by the loop.
	_, _, want := engineProbe(a.m.opts, mf)
	byEngine := want != nil && want.Equal(st.Probe)
	ctx, cancel := context.WithCancel(a.m.ctx)
	h := &healthRun{startedAt: startedAt, cancel: cancel, done: make(chan struct{})}
	a.health = h
	go func() {
		defer close(h.done)
		a.healthLoop(ctx, mf, startedAt, byEngine)
	}()
}

// stopHealth stops the health loop and waits for it, so no result lands
// after the caller clears health.
func (a *actor) stopHealth() {
	if a.health == nil {
		return
	}
	a.health.cancel()
	<-a.health.done
	a.health = nil
}

// healthLoop runs the checks of one run of the main container: the first
// round after the grace, and every round after it unless byEngine, when the
// engine runs the one check from then on (its first probe comes a whole
// interval after the start) and followProbe takes its results.
func (a *actor) healthLoop(ctx context.Context, mf *manifest.Manifest, startedAt time.Time, byEngine bool) {
	o := a.m.opts
	wait := o.HealthGrace - time.Since(startedAt)
	// running holds, per check, the exec of a run that timed out and may
	// still be running: no new run of that check starts while it does.
	running := map[string]string{}
	for {
		if wait > 0 && !retry.Wait(ctx, wait) {
			return
		}
		// While packages are being started (a boot starts them all),
		// checks wait: each is an exec, work for the engine as heavy as a
		// start, and the starts come first (a boot of 100 packages took
		// 1.4 times docker's own starts while they ran alongside).
		if !a.m.waitStarts(ctx, max(o.HealthInterval, startsWaitMax)) {
			return
		}
		writeFailed := false
		for _, id := range sortedKeys(mf.HealthChecks) {
			hc := mf.HealthChecks[id]
			if hc == nil {
				continue
			}
			var r model.HealthCheckResult
			if msg := a.m.previousCheckRuns(ctx, running, id); msg != "" {
				r = model.HealthCheckResult{Name: hc.Name, Result: model.HealthFailure, Message: msg}
			} else {
				var execID string
				r, execID = a.m.runHealthCheck(ctx, mf, hc, startedAt)
				if execID != "" {
					running[id] = execID
				}
			}
			if ctx.Err() != nil {
				return
			}
			if !a.recordHealth(ctx, id, startedAt, r) {
				writeFailed = true
			}
		}
		if byEngine {
			// A run of ours that timed out was stopped, or its result
			// says it could not be; the engine waits for its own.
			a.followProbe(ctx, mf, startedAt)
			return
		}
		wait = o.HealthInterval
		if writeFailed {
			wait = min(wait, o.RestartBackoff)
		}
	}
}

// recordHealth writes result r of check id for the run started at
// startedAt, unless the document holds it already, and notes it for the
// alerts; false when the write failed (the caller records it again soon).
func (a *actor) recordHealth(ctx context.Context, id string, startedAt time.Time, r model.HealthCheckResult) bool {
	ok := true
	if !a.m.healthRecorded(a.id, id, startedAt, r) {
		// The usual round finds nothing changed, and a look at the
		// current revision costs less than a mutation that finds so.
		err := a.m.mutateEntry(ctx, a.id, func(e *model.PackageDataEntry) {
			// Only while this run is the current one.
			if e.StatusInfo.Started == nil || !e.StatusInfo.Started.Equal(startedAt.UTC()) {
				return
			}
			if e.StatusInfo.Health == nil {
				e.StatusInfo.Health = map[string]model.HealthCheckResult{}
			}
			e.StatusInfo.Health[id] = r
		})
		if err != nil && ctx.Err() == nil {
			a.m.log.Warn("recording a health check result failed; retrying soon", "package", a.id, "check", id, "error", err)
			ok = false
		}
	}
	a.noteHealth(ctx, id, r)
	return ok
}

// probed tells the actor's probe follower that the engine announced a
// change of its container's health; it never blocks.
func (a *actor) probed() {
	select {
	case a.probec <- struct{}{}:
	default:
	}
}

// followProbe records the outcomes of the probe the engine runs for the
// package's one check, reading the container's newest outcome when there is
// news. The engine announces a change between healthy and unhealthy
// (health_status), so a steady success costs nothing; a change among the
// other results (starting, loading, failure, disabled) is not announced, so
// while the check does not succeed its outcome is looked at every interval.
// An announcement may come before the outcome is readable: a look that
// finds none new looks again shortly. Announcements missed while the event
// stream was down are covered by a look at each resubscription, and by one
// every ownResync.
func (a *actor) followProbe(ctx context.Context, mf *manifest.Manifest, startedAt time.Time) {
	id, hc, _ := engineProbe(a.m.opts, mf)
	var taken time.Time // end of the newest outcome recorded
	wait := a.m.opts.HealthInterval
	for {
		announced := false
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-a.probec:
			announced = true
		case <-t.C:
		}
		t.Stop()
		for delay := 50 * time.Millisecond; ; delay *= 2 {
			st, err := a.m.engine.InspectContainer(ctx, ContainerName(a.id))
			if ctx.Err() != nil {
				return
			}
			if p := st.LastProbe; err == nil && p != nil && !p.Start.Before(startedAt) && p.End.After(taken) {
				r := probeResult(hc, p)
				switch {
				case !a.recordHealth(ctx, id, startedAt, r):
					wait = a.m.opts.RestartBackoff // the write failed: again soon
				case r.Result == model.HealthSuccess:
					taken, wait = p.End, a.ownResync()
				default:
					taken, wait = p.End, a.m.opts.HealthInterval
				}
				break
			}
			if !announced || delay > 2*time.Second || !retry.Wait(ctx, delay) {
				break
			}
		}
	}
}

// engineProbe is the probe the engine can run for the package's health
// checks, with the check's id, or nil: it runs one check, an exec in the
// main container that takes no input, on the daemon's schedule.
func engineProbe(o Options, mf *manifest.Manifest) (string, *manifest.HealthCheck, *container.Probe) {
	if len(mf.HealthChecks) != 1 {
		return "", nil, nil
	}
	for id, hc := range mf.HealthChecks {
		if hc == nil {
			return "", nil, nil
		}
		p := &hc.Procedure
		if p.Type != manifest.ProcedureDocker || p.System || p.Native != "" || !p.Inject || p.IOFormat != "" {
			return "", nil, nil
		}
		timeout := o.HealthTimeout
		if hc.Timeout > 0 {
			timeout = time.Duration(hc.Timeout)
		}
		return id, hc, &container.Probe{Cmd: injectCmd(p), Interval: o.HealthInterval, Timeout: timeout, StartPeriod: o.HealthGrace}
	}
	return "", nil, nil
}

// probeResult maps an outcome of the engine's probe to a result, as
// healthResult does an exec's; the engine keeps stdout and stderr together.
func probeResult(hc *manifest.HealthCheck, p *container.ProbeResult) model.HealthCheckResult {
	if p.ExitCode == container.ProbeTimedOut {
		return model.HealthCheckResult{Name: hc.Name, Result: model.HealthFailure,
			Message: fmt.Sprintf("%s (no answer within %s; the check was stopped)", timedOut, p.End.Sub(p.Start).Round(time.Second))}
	}
	return healthResult(hc, p.ExitCode, nil, []byte(p.Output))
}

// healthRecorded reports whether the document already holds result r for
// check id of package pkg's run started at startedAt.
func (m *Manager) healthRecorded(pkg, id string, startedAt time.Time, r model.HealthCheckResult) bool {
	same := false
	m.store.View().ReadPackage(pkg, func(e *model.PackageDataEntry) {
		cur, ok := e.StatusInfo.Health[id]
		same = ok && cur == r && e.StatusInfo.Started != nil && e.StatusInfo.Started.Equal(startedAt.UTC())
	})
	return same
}

// waitStarts waits until no package is being started, or at most limit; it
// returns false when ctx ends.
func (m *Manager) waitStarts(ctx context.Context, limit time.Duration) bool {
	done := m.startsDone()
	select {
	case <-done:
		return true
	default:
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// previousCheckRuns returns "" when check id may run: no earlier run of it
// is still going (a timed-out one is killed again first). Otherwise it
// returns the failure message to report instead of running it again.
func (m *Manager) previousCheckRuns(ctx context.Context, running map[string]string, id string) string {
	execID, ok := running[id]
	if !ok {
		return ""
	}
	still, err := m.engine.ExecRunning(ctx, execID)
	if errors.Is(err, errdefs.ErrNotFound) || (err == nil && !still) {
		delete(running, id)
		return ""
	}
	if err == nil {
		err = m.engine.KillExec(ctx, execID)
		if err == nil {
			delete(running, id)
			return ""
		}
	}
	return "the previous run of this check is still running and could not be stopped, so it was not started again: " + err.Error()
}

// runHealthCheck runs one check and maps its outcome to a result. It also
// returns the exec id of a run that timed out (its process may outlive the
// call if it could not be killed).
func (m *Manager) runHealthCheck(ctx context.Context, mf *manifest.Manifest, hc *manifest.HealthCheck, startedAt time.Time) (model.HealthCheckResult, string) {
	timeout := m.opts.HealthTimeout
	if hc.Timeout > 0 {
		timeout = time.Duration(hc.Timeout)
	}
	var input any
	if hc.IOFormat != "" {
		input = time.Since(startedAt).Milliseconds()
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := m.runProcedure(cctx, mf.ID, mf, hc.Procedure, input, timeout)
	if err != nil {
		if errors.Is(err, errdefs.ErrTimeout) || cctx.Err() == context.DeadlineExceeded {
			msg := fmt.Sprintf("%s (no answer within %s", timedOut, timeout)
			if strings.Contains(err.Error(), "could not be stopped") {
				msg += "; " + err.Error()
			} else {
				msg += "; the check was stopped"
			}
			return model.HealthCheckResult{Name: hc.Name, Result: model.HealthFailure, Message: msg + ")"}, res.ExecID
		}
		return model.HealthCheckResult{Name: hc.Name, Result: model.HealthFailure, Message: err.Error()}, ""
	}
	return healthResult(hc, res.ExitCode, res.Stdout, res.Stderr), ""
}

// healthResult maps an exit code to a result (StartOS 0.3's table).
func healthResult(hc *manifest.HealthCheck, code int, stdout, stderr []byte) model.HealthCheckResult {
	r := model.HealthCheckResult{Name: hc.Name}
	switch code {
	case 0:
		r.Result, r.Message = model.HealthSuccess, hc.SuccessMessage
	case exitDisabled:
		r.Result = model.HealthDisabled
		r.Message = lastLines(stderr, 1000)
		if r.Message == "" {
			r.Message = strings.TrimSpace(string(stdout))
		}
	case exitStarting:
		r.Result = model.HealthStarting
	case exitLoading:
		r.Result, r.Message = model.HealthLoading, lastLines(stderr, 1000)
	default:
		r.Result, r.Message = model.HealthFailure, lastLines(stderr, 1000)
		if r.Message == "" {
			r.Message = "health check exited with code " + strconv.Itoa(code)
		}
	}
	return r
}
