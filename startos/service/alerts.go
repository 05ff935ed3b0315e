package service

import (
	"context"
	"fmt"
	"time"

	"github.com/startos-go/startos/startos/model"
)

// Trouble worth telling the owner about, each once per episode: a service
// that keeps crashing, a health check that keeps failing. A new episode
// starts only after recovery, so a service that stays broken raises one
// notification, not one per restart or per check.
//
// The state below is owned by the actor's goroutines: the crash record by
// the run goroutine, the health record by the current health loop (loops
// never overlap: stopHealth waits for one to end before the next starts,
// and the run goroutine resets the record only after stopHealth).

// alertState is an actor's record of its current episodes.
type alertState struct {
	crashes           []time.Time // the newest crashes, at most CrashLoopRestarts
	crashLoopNotified bool

	healthFailingSince map[string]time.Time // check id -> first failure of this stretch
	healthNotified     map[string]bool      // check id -> notified in this episode
}

// title names the package for a person.
func (a *actor) title() string {
	if a.mf != nil && a.mf.Title != "" {
		return a.mf.Title
	}
	return a.id
}

func (a *actor) notify(ctx context.Context, in model.NotificationInput) {
	if a.m.opts.Notify == nil {
		return
	}
	a.m.opts.Notify(ctx, in)
}

// noteCrash records one crash (or failed start) and raises the crash-loop
// notification when CrashLoopRestarts of them fall within CrashLoopWindow.
func (a *actor) noteCrash(ctx context.Context, msg string) {
	o := a.m.opts
	now := time.Now()
	a.alerts.crashes = append(a.alerts.crashes, now)
	if len(a.alerts.crashes) > o.CrashLoopRestarts {
		a.alerts.crashes = a.alerts.crashes[len(a.alerts.crashes)-o.CrashLoopRestarts:]
	}
	a.pruneCrashes(now)
	if a.alerts.crashLoopNotified || len(a.alerts.crashes) < o.CrashLoopRestarts {
		return
	}
	a.alerts.crashLoopNotified = true
	a.m.log.Warn("service is crash-looping", "package", a.id, "crashes", len(a.alerts.crashes), "window", o.CrashLoopWindow)
	a.notify(ctx, model.NotificationInput{PackageID: a.id, Level: model.NotificationWarning,
		Title: a.title() + " keeps crashing",
		Message: fmt.Sprintf("%s stopped %d times within %s. It is restarted with a growing delay; its log may say why. Last error: %s",
			a.title(), len(a.alerts.crashes), o.CrashLoopWindow, msg)})
}

// pruneCrashes forgets crashes older than the window.
func (a *actor) pruneCrashes(now time.Time) {
	cut := now.Add(-a.m.opts.CrashLoopWindow)
	i := 0
	for i < len(a.alerts.crashes) && a.alerts.crashes[i].Before(cut) {
		i++
	}
	a.alerts.crashes = a.alerts.crashes[i:]
}

// noteRunning is called while the main process runs: a whole window
// without a crash ends a crash-loop episode.
func (a *actor) noteRunning() {
	a.pruneCrashes(time.Now())
	if len(a.alerts.crashes) == 0 {
		a.alerts.crashLoopNotified = false
	}
}

// endEpisode forgets the restarts and alerts of the service's run: the
// owner stopped it. It runs on the run goroutine after stopHealth.
func (a *actor) endEpisode() {
	a.backoff.Reset()
	a.notBefore = time.Time{}
	a.resetAlerts()
}

// resetAlerts ends every alert episode; it runs on the run goroutine while
// no health loop runs (noteHealth writes the same state).
func (a *actor) resetAlerts() {
	a.alerts = alertState{healthFailingSince: map[string]time.Time{}, healthNotified: map[string]bool{}}
}

// noteHealth records one health check result (on the health loop) and
// raises the notification once a check has failed for HealthAlertAfter. A
// success ends the episode; starting, loading and disabled end the failing
// stretch only.
func (a *actor) noteHealth(ctx context.Context, id string, r model.HealthCheckResult) {
	st := &a.alerts
	switch r.Result {
	case model.HealthSuccess:
		delete(st.healthFailingSince, id)
		delete(st.healthNotified, id)
		return
	case model.HealthFailure:
	default:
		delete(st.healthFailingSince, id)
		return
	}
	now := time.Now()
	since, ok := st.healthFailingSince[id]
	if !ok {
		st.healthFailingSince[id] = now
		since = now
	}
	after := a.m.opts.HealthAlertAfter
	if st.healthNotified[id] || now.Sub(since) < after {
		return
	}
	st.healthNotified[id] = true
	name := r.Name
	if name == "" {
		name = id
	}
	a.m.log.Warn("health check failing", "package", a.id, "check", id, "since", since)
	a.notify(ctx, model.NotificationInput{PackageID: a.id, Level: model.NotificationWarning,
		Title: fmt.Sprintf("%s: health check %q failing", a.title(), name),
		Message: fmt.Sprintf("The health check %q of %s has failed for %s (alert after %s): %s",
			name, a.title(), now.Sub(since).Round(time.Second), after, r.Message)})
}
