package watchdog

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// killDumpWait bounds how long the kill path waits for its dump: a disk
// that hangs must not keep a wedged daemon alive.
const killDumpWait = 3 * time.Second

// kill is the end of the ladder: write the evidence, make sure no write to
// fd 2 can block, and exit with ExitCode. It runs on the monitor goroutine
// and touches neither the logger nor anything the rest of the process locks.
func (w *Watchdog) kill(ev event) {
	w.emit(ev) // may never be logged; the dump is the record
	reason := fmt.Sprintf("kill: %s %q has not succeeded for %s (kill threshold %s); exiting with status %d",
		ev.probeKind, ev.probe, ev.age.Round(time.Millisecond), ev.limit, ExitCode)
	w.terminate(reason)
}

// terminate writes a kill dump (waiting at most killDumpWait), points fd 2 at
// it when exiting for real, and exits.
//
// It sends no STOPPING=1: this is a failure for systemd to restart, and the
// pings have already stopped.
func (w *Watchdog) terminate(reason string) {
	keep := make(chan *os.File, 1)
	done := make(chan struct{})
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer close(done)
		if _, err := w.writeDump(dumpKill, reason, keep); err != nil {
			w.emit(event{kind: evDumpFailed, dumpKind: dumpKill, err: err})
		}
	}()
	var f *os.File // the dump file, once the writer has one
	t := time.NewTimer(killDumpWait)
wait:
	for {
		select {
		case f = <-keep:
		case <-done:
			if f == nil {
				select {
				case f = <-keep: // sent before done closed
				default:
				}
			}
			break wait
		case <-t.C:
			break wait
		}
	}
	t.Stop()
	if w.cfg.Exit == nil {
		redirectStderr(f)
		os.Exit(ExitCode)
	}
	w.cfg.Exit(ExitCode)
	// Only an injected Exit returns. The writer may still hold f; close it
	// once it is done so nothing is left open.
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		<-done
		if f == nil {
			select {
			case f = <-keep:
			default:
			}
		}
		if f != nil {
			f.Close()
		}
	}()
}

// redirectStderr points fd 2 at f, so that nothing written to stderr on the
// way out (the runtime writes fatal errors there before anything else) can
// block on a pipe nobody reads. Without a file, fd 2 is closed: a write then
// fails at once instead of blocking.
func redirectStderr(f *os.File) {
	if f != nil {
		if raw, err := f.SyscallConn(); err == nil {
			var derr error
			_ = raw.Control(func(fd uintptr) { derr = unix.Dup3(int(fd), 2, 0) })
			if derr == nil {
				return
			}
		}
	}
	unix.Close(2)
}

// HandleSignals makes SIGUSR1 write a goroutine dump to the watchdog folder
// and SIGABRT (systemd's WatchdogSignal) run the kill sequence, which dumps
// to a file instead of the runtime's traceback to a possibly wedged stderr.
// The handler is a goroutine of its own that uses only the pre-opened dump
// file: no logging, no lock shared with the rest of the process. Close stops
// it and restores the default handling.
func (w *Watchdog) HandleSignals() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.wg.Add(1) // under w.mu, so Close cannot be waiting already
	w.mu.Unlock()
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGABRT)
	go func() {
		defer w.wg.Done()
		defer signal.Stop(ch)
		for {
			select {
			case <-w.stop:
				return
			case s := <-ch:
				if s == syscall.SIGUSR1 {
					_, _ = w.dumpNow(dumpSignal, "SIGUSR1")
					continue
				}
				w.mu.Lock()
				already := w.killed
				w.killed = true
				w.mu.Unlock()
				if !already {
					w.terminate(fmt.Sprintf("kill: %s received (systemd's watchdog timeout sends it); exiting with status %d", signalName(s), ExitCode))
				}
			}
		}
	}()
}

func signalName(s os.Signal) string {
	if sig, ok := s.(syscall.Signal); ok {
		if n := unix.SignalName(sig); n != "" {
			return n
		}
	}
	return s.String()
}
