package watchdog

import (
	"context"
	"time"
)

// hour is the window of the megamiss dump limit.
const hour = int64(time.Hour)

func (w *Watchdog) monitor(t Ticker) {
	defer w.wg.Done()
	defer t.Stop()
	w.tick() // run the probes once right away
	for {
		select {
		case <-w.stop:
			return
		case <-t.C():
			w.tick()
		}
	}
}

// verdict is what one tick decided; it is carried out after w.mu is released.
type verdict struct {
	events  []event
	cancels []context.CancelFunc
	dump    bool
	kill    *event
	ping    bool
	refill  bool
}

// tick judges every entry, cancels checks past their deadline and starts the
// checks that are due. Judging holds w.mu but does no I/O; the actions run
// after.
func (w *Watchdog) tick() {
	now := w.now()
	var v verdict
	w.mu.Lock()
	if w.closed || w.killed {
		w.mu.Unlock()
		return
	}
	paused := w.cfg.PauseGap > 0 && now-w.lastTick > int64(w.cfg.PauseGap)
	if paused {
		// The process was frozen: every clock we hold is stale. Restart them
		// rather than blame the probes for time nobody could run.
		w.pauses++
		v.events = append(v.events, event{kind: evPause, age: time.Duration(now - w.lastTick)})
		w.resetAt = now
	}
	w.lastTick = now
	allFatalOK := true
	var worst *entry
	var worstAge int64
	for _, e := range w.entries {
		age := now - w.lastGood(e)
		if e.running && now-max(e.runStart, w.resetAt) >= int64(e.timeout) && e.runCancel != nil {
			v.cancels = append(v.cancels, e.runCancel)
			e.runCancel = nil // cancel once
		}
		if !paused {
			w.judge(e, age, now, &v)
			if e.sev == Fatal && age > int64(e.th.kill) && age > worstAge {
				worst, worstAge = e, age
			}
		}
		if e.sev == Fatal && age > int64(e.th.miss) {
			allFatalOK = false
		}
		if e.check != nil && !e.running && (!e.ran || now-e.lastRun+int64(w.cfg.Tick)/2 >= int64(e.interval)) {
			w.launch(e, now)
		}
	}
	if worst != nil {
		w.killed = true
		v.kill = &event{kind: evKill, probe: worst.name, probeKind: worst.kind, age: time.Duration(worstAge), limit: worst.th.kill}
	}
	if w.notify != nil && w.wdInterval > 0 && allFatalOK && v.kill == nil &&
		(!w.pinged || now-w.lastPing+int64(w.cfg.Tick)/2 >= int64(w.wdInterval/2)) {
		v.ping, w.pinged, w.lastPing = true, true, now
	}
	v.refill = w.spare.Load() == nil
	w.mu.Unlock()

	for _, c := range v.cancels {
		c()
	}
	for _, ev := range v.events {
		w.emit(ev)
	}
	if v.dump {
		kick(w.dumpKick)
	}
	if v.refill {
		kick(w.refillKick)
	}
	if v.ping {
		if err := w.notify.send("WATCHDOG=1"); err != nil {
			w.emit(event{kind: evNotifyFailed, err: err})
		}
	}
	if v.kill != nil {
		w.kill(*v.kill)
	}
}

// lastGood is when e last succeeded, but never before the last reset.
func (w *Watchdog) lastGood(e *entry) int64 {
	return max(e.lastOK.Load(), w.resetAt)
}

// judge moves e along the ladder. Each step fires once per episode; the
// episode ends when e succeeds again.
func (w *Watchdog) judge(e *entry, age, now int64, v *verdict) {
	if age <= int64(e.th.miss) {
		if e.missed {
			v.events = append(v.events, event{kind: evRecovered, probe: e.name, probeKind: e.kind})
		}
		e.missed, e.megamissed = false, false
		return
	}
	if !e.missed {
		e.missed = true
		e.misses++
		v.events = append(v.events, event{kind: evMiss, probe: e.name, probeKind: e.kind, sev: e.sev, age: time.Duration(age), limit: e.th.miss, lastErr: e.lastErr})
	}
	if age > int64(e.th.megamiss) && !e.megamissed {
		e.megamissed = true
		e.megamisses++
		v.events = append(v.events, event{kind: evMegamiss, probe: e.name, probeKind: e.kind, sev: e.sev, age: time.Duration(age), limit: e.th.megamiss, lastErr: e.lastErr})
		if w.dumpAllowed(now) {
			w.pendingDump = append(w.pendingDump, e.name)
			v.dump = true
		} else {
			w.dumpsSkipped++
			v.events = append(v.events, event{kind: evDumpSkipped, probes: []string{e.name}})
		}
	}
}

// dumpAllowed applies the hourly limit on megamiss dumps; w.mu is held. A
// megamiss that joins a dump still waiting to be written costs nothing.
func (w *Watchdog) dumpAllowed(now int64) bool {
	if len(w.pendingDump) > 0 || w.cfg.DumpsPerHour < 0 {
		return true
	}
	kept := w.dumpTimes[:0]
	for _, t := range w.dumpTimes {
		if now-t < hour {
			kept = append(kept, t)
		}
	}
	w.dumpTimes = kept
	if len(w.dumpTimes) >= w.cfg.DumpsPerHour {
		return false
	}
	w.dumpTimes = append(w.dumpTimes, now)
	return true
}

// kick wakes a helper goroutine without waiting; a wake-up already pending
// covers this one.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
