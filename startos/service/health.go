package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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

// startHealth starts the health loop for a container started at startedAt,
// unless one runs for that start already.
func (a *actor) startHealth(mf *manifest.Manifest, startedAt time.Time) {
	if len(mf.HealthChecks) == 0 {
		return
	}
	if a.health != nil {
		if a.health.startedAt.Equal(startedAt) {
			return
		}
		a.stopHealth()
	}
	ctx, cancel := context.WithCancel(a.m.ctx)
	h := &healthRun{startedAt: startedAt, cancel: cancel, done: make(chan struct{})}
	a.health = h
	go func() {
		defer close(h.done)
		a.healthLoop(ctx, mf, startedAt)
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

func (a *actor) healthLoop(ctx context.Context, mf *manifest.Manifest, startedAt time.Time) {
	o := a.m.opts
	wait := o.HealthGrace - time.Since(startedAt)
	// running holds, per check, the exec of a run that timed out and may
	// still be running: no new run of that check starts while it does.
	running := map[string]string{}
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
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
			if a.m.healthRecorded(a.id, id, startedAt, r) {
				// The usual round: nothing changed, and a look at the
				// current revision costs less than a mutation that finds so.
				a.noteHealth(ctx, id, r)
				continue
			}
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
				// The next round writes every result again; make it soon.
				a.m.log.Warn("recording a health check result failed; retrying soon", "package", a.id, "check", id, "error", err)
				writeFailed = true
			}
			a.noteHealth(ctx, id, r)
		}
		wait = o.HealthInterval
		if writeFailed {
			wait = min(wait, o.RestartBackoff)
		}
	}
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
