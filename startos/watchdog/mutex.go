package watchdog

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Mutex is a sync.Mutex that the watchdog can see into: Lock records the
// holder's goroutine id and call stack, and a try-lock probe reports the lock
// when one holder keeps it past the thresholds. The zero Mutex (or one from
// a nil *Watchdog) is a plain, unwatched mutex.
type Mutex struct {
	mu     sync.Mutex
	w      *Watchdog
	gen    atomic.Uint64 // acquisitions so far: a moving count means the lock is busy, not stuck
	holder atomic.Pointer[lockHolder]
}

// lockHolder is who took the lock, when (watchdog time) and from where.
type lockHolder struct {
	goid  uint64
	since int64
	pcs   []uintptr
}

// NewMutex returns a watched mutex registered as a Fatal probe called name.
// The probe counts only sustained unavailability: a lock that is busy but
// changes hands between looks is fine; one acquisition held past the
// thresholds is a stall, and the dump names the holder.
func (w *Watchdog) NewMutex(name string, opts ...ProbeOption) (*Mutex, error) {
	if w == nil {
		return &Mutex{}, nil
	}
	m := &Mutex{w: w}
	e := &entry{name: name, kind: kindMutex, sev: Fatal}
	var lastGen atomic.Uint64
	var seen atomic.Bool
	e.check = func(ctx context.Context) error {
		if m.mu.TryLock() {
			m.mu.Unlock()
			return nil
		}
		g := m.gen.Load()
		if !seen.Swap(true) || lastGen.Swap(g) != g {
			return nil // first look at this holder: busy, not yet stuck
		}
		h := m.holder.Load()
		if h == nil {
			return fmt.Errorf("lock %q is held by the same holder as at the last look", name)
		}
		// The lock has not been free since this holder took it: count the
		// stall from then, not from the first look that saw it.
		if h.since < e.lastOK.Load() {
			e.lastOK.Store(h.since)
		}
		return fmt.Errorf("lock %q held by goroutine %d (%s) for %s", name, h.goid, h.function(), fmtDur(w.now()-h.since))
	}
	e.holder = m.holder.Load
	e.detail = func(now int64) string {
		h := m.holder.Load()
		if h == nil {
			return ""
		}
		return fmt.Sprintf("held by goroutine %d (%s) for %s", h.goid, h.function(), fmtDur(now-h.since))
	}
	if err := w.register(e, opts); err != nil {
		return nil, err
	}
	return m, nil
}

// Lock locks m and records the caller as its holder.
func (m *Mutex) Lock() {
	m.mu.Lock()
	m.acquired()
}

// TryLock locks m if it is free, and reports whether it did.
func (m *Mutex) TryLock() bool {
	if !m.mu.TryLock() {
		return false
	}
	m.acquired()
	return true
}

// Unlock unlocks m.
func (m *Mutex) Unlock() {
	m.holder.Store(nil)
	m.mu.Unlock()
}

func (m *Mutex) acquired() {
	m.gen.Add(1)
	if m.w == nil {
		return
	}
	var pcs [32]uintptr
	n := runtime.Callers(3, pcs[:]) // skip Callers, acquired, Lock
	m.holder.Store(&lockHolder{goid: goid(), since: m.w.now(), pcs: append([]uintptr(nil), pcs[:n]...)})
}

// function is the name of the function that called Lock.
func (h *lockHolder) function() string {
	if len(h.pcs) == 0 {
		return "unknown"
	}
	f, _ := runtime.CallersFrames(h.pcs).Next()
	return f.Function
}

// stack renders the holder's call stack at Lock, one frame per two lines as
// in a goroutine dump.
func (h *lockHolder) stack(indent string) string {
	var b strings.Builder
	frames := runtime.CallersFrames(h.pcs)
	for {
		f, more := frames.Next()
		if f.Function != "" {
			fmt.Fprintf(&b, "%s%s\n%s\t%s:%d\n", indent, f.Function, indent, f.File, f.Line)
		}
		if !more {
			break
		}
	}
	return b.String()
}

// goid is the current goroutine's id, read from the first line of its
// traceback ("goroutine 42 [running]:"); Go offers no other way.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
