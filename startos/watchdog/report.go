package watchdog

import (
	"time"
)

type eventKind int

const (
	evMiss eventKind = iota
	evMegamiss
	evRecovered
	evKill
	evPause
	evDumpWritten
	evDumpSkipped
	evDumpFailed
	evNotifyFailed
	evConfig
)

func (k eventKind) String() string {
	return [...]string{"miss", "megamiss", "recovered", "kill", "pause", "dump", "dump-skipped", "dump-failed", "notify-failed", "config"}[k]
}

// event is something the watchdog tells its logger and hooks about. Events
// travel through a bounded queue to the reporter goroutine, so a logger or
// hook that blocks never holds up the monitor, the dumper or the kill path.
type event struct {
	kind      eventKind
	probe     string
	probeKind kind
	sev       Severity
	age       time.Duration // how long the probe has gone without success, or the pause
	limit     time.Duration // the threshold it crossed
	lastErr   string
	probes    []string // probes a dump was written (or skipped) for
	path      string   // dump file
	dumpKind  string
	err       error
	msg       string
}

// emit queues ev for the reporter without ever waiting; when the queue is
// full the event is counted and dropped.
func (w *Watchdog) emit(ev event) {
	if w.observe != nil {
		w.observe(ev)
	}
	select {
	case w.events <- ev:
	default:
		w.droppedEvents.Add(1)
	}
}

func (w *Watchdog) report() {
	defer w.wg.Done()
	var reportedDrops uint64
	for {
		select {
		case ev := <-w.events:
			if d := w.droppedEvents.Load(); d != reportedDrops {
				w.log.Warn("events dropped: the reporter fell behind", "dropped", d-reportedDrops)
				reportedDrops = d
			}
			w.handle(ev)
		case <-w.stop:
			for {
				select {
				case ev := <-w.events:
					w.handle(ev)
				default:
					return
				}
			}
		}
	}
}

func (w *Watchdog) handle(ev event) {
	l := w.log
	switch ev.kind {
	case evMiss:
		l.Warn("probe missed", "probe", ev.probe, "kind", ev.probeKind.String(), "severity", ev.sev.String(), "since_success", ev.age.Round(time.Millisecond), "threshold", ev.limit, "last_error", ev.lastErr)
	case evMegamiss:
		l.Error("probe megamissed, dumping goroutines", "probe", ev.probe, "kind", ev.probeKind.String(), "severity", ev.sev.String(), "since_success", ev.age.Round(time.Millisecond), "threshold", ev.limit, "last_error", ev.lastErr)
	case evRecovered:
		l.Info("probe recovered", "probe", ev.probe, "kind", ev.probeKind.String())
	case evKill:
		l.Error("probe stalled past the kill threshold, exiting", "probe", ev.probe, "since_success", ev.age.Round(time.Millisecond), "threshold", ev.limit, "exit_code", ExitCode)
	case evPause:
		l.Warn("tick arrived late, process was paused; clocks reset", "gap", ev.age.Round(time.Millisecond))
	case evDumpWritten:
		l.Info("goroutine dump written", "path", ev.path, "kind", ev.dumpKind, "probes", ev.probes)
		if ev.dumpKind == dumpMegamiss {
			w.megamissHook(ev.probes, ev.path)
		}
	case evDumpSkipped:
		l.Warn("megamiss dump skipped: hourly limit reached", "probes", ev.probes, "limit", w.cfg.DumpsPerHour)
		w.megamissHook(ev.probes, "")
	case evDumpFailed:
		l.Error("goroutine dump failed", "kind", ev.dumpKind, "probes", ev.probes, "error", ev.err)
		if ev.dumpKind == dumpMegamiss {
			w.megamissHook(ev.probes, "")
		}
	case evNotifyFailed:
		l.Warn("sd_notify failed", "error", ev.err)
	case evConfig:
		if ev.err != nil {
			l.Warn(ev.msg, "probe", ev.probe, "error", ev.err)
		} else {
			l.Warn(ev.msg, "probe", ev.probe)
		}
	}
}

func (w *Watchdog) megamissHook(probes []string, path string) {
	if w.cfg.OnMegamiss == nil {
		return
	}
	for _, p := range probes {
		w.cfg.OnMegamiss(p, path)
	}
}
