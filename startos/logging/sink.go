package logging

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/startos/model"
)

// chunkBytes bounds one write to a sink: lines are batched up to this size so a
// busy sink costs few syscalls.
const chunkBytes = 64 << 10

// itemOverhead is what one queued line costs beyond its bytes: its queue slot,
// the spare slot array the drain swaps in, and slice growth. Charging it keeps
// the byte budget honest for floods of short lines.
const itemOverhead = 64

type item struct {
	line        []byte // shared between sinks; never modified after Write copies it
	charge      int64
	dropsBefore uint64 // lines dropped just before this one: a marker precedes it
}

// sink is one destination with its own bounded queue and drain goroutine. The
// caller side (offer) only appends to the queue under mu; all I/O happens on
// the drain goroutine, which holds mu only to take or account a batch.
type sink struct {
	name   string
	out    io.Writer
	closer io.Closer // closed by the drain goroutine when it exits; may be nil
	budget int64
	json   bool
	epoch  time.Time // base for the monotonic clock readings below

	wake chan struct{} // one slot: "there is work"
	done chan struct{} // closed when the drain goroutine returns

	// inWriteSince is the monotonic time (since epoch) the current write began,
	// or 0. It is read without mu so Stats never waits behind a wedged drain.
	inWriteSince atomic.Int64

	mu           sync.Mutex
	items        []item
	spare        []item
	inflight     bool
	queuedBytes  int64
	pendingDrops uint64 // dropped since the last accepted line, not yet marked
	enqueued     uint64
	written      uint64
	dropped      uint64
	lastDropAt   int64 // monotonic, since epoch; 0 when never
	dead         bool  // the output is gone (EPIPE, EBADF, closed): drop everything
	closing      bool  // Close began: flush what is queued, then return
	lastErr      string
	idle         []chan struct{} // Flush waiters, closed when the sink is idle
}

func newSink(name string, out io.Writer, closer io.Closer, budget int64, json bool, epoch time.Time) *sink {
	return &sink{
		name:   name,
		out:    out,
		closer: closer,
		budget: budget,
		json:   json,
		epoch:  epoch,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
}

func (s *sink) now() int64 { return int64(time.Since(s.epoch)) }

// offer queues line without blocking; when the budget is spent the line is
// dropped and counted.
func (s *sink) offer(line []byte, charge int64) {
	s.mu.Lock()
	s.enqueued++
	switch {
	case s.dead || s.closing:
		s.dropped++
	case s.queuedBytes+charge > s.budget:
		s.dropped++
		s.pendingDrops++
		s.lastDropAt = s.now()
	default:
		s.items = append(s.items, item{line: line, charge: charge, dropsBefore: s.pendingDrops})
		s.pendingDrops = 0
		s.queuedBytes += charge
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the drain goroutine. It returns once Close has begun and the queue is
// empty, or at once if the output is dead.
func (s *sink) run() {
	defer close(s.done)
	defer func() {
		if s.closer != nil {
			s.closer.Close()
		}
	}()
	buf := make([]byte, 0, chunkBytes)
	var ends []int
	for {
		s.mu.Lock()
		batch := s.items
		s.items = s.spare[:0]
		s.spare = nil
		var drops uint64
		if len(batch) == 0 {
			// Nothing queued after the drops: the marker stands alone.
			drops, s.pendingDrops = s.pendingDrops, 0
		}
		if s.dead {
			drops = 0
		}
		work := len(batch) > 0 || drops > 0
		s.inflight = work
		if !work {
			s.notifyIdleLocked()
		}
		exit := !work && (s.closing || s.dead)
		s.mu.Unlock()

		if exit {
			return
		}
		if !work {
			<-s.wake
			continue
		}
		buf, ends = s.drain(batch, drops, buf, ends)
		clear(batch)
		s.mu.Lock()
		s.spare = batch[:0]
		s.inflight = false
		s.mu.Unlock()
	}
}

// drain writes batch in chunks, with marker lines where lines were dropped,
// and accounts each chunk as it completes.
func (s *sink) drain(batch []item, drops uint64, buf []byte, ends []int) ([]byte, []int) {
	if drops > 0 {
		buf = s.appendMarker(buf[:0], drops)
		s.write(buf, nil, nil)
	}
	for len(batch) > 0 {
		buf, ends = buf[:0], ends[:0]
		n := 0
		for n < len(batch) {
			it := batch[n]
			if n > 0 && len(buf)+len(it.line)+markerRoom(it) > chunkBytes {
				break
			}
			if it.dropsBefore > 0 {
				buf = s.appendMarker(buf, it.dropsBefore)
			}
			buf = append(buf, it.line...)
			ends = append(ends, len(buf))
			n++
		}
		s.write(buf, batch[:n], ends)
		batch = batch[n:]
	}
	return buf, ends
}

func markerRoom(it item) int {
	if it.dropsBefore > 0 {
		return 256
	}
	return 0
}

// write performs one write outside the lock, then accounts the lines in it:
// a line whose last byte (ends[i]) made it counts as written, the rest as
// dropped.
func (s *sink) write(chunk []byte, lines []item, ends []int) {
	s.mu.Lock()
	dead := s.dead
	s.mu.Unlock()
	var n int
	var err error
	if !dead {
		s.inWriteSince.Store(s.now())
		n, err = s.out.Write(chunk)
		s.inWriteSince.Store(0)
		if err == nil && n < len(chunk) {
			err = io.ErrShortWrite
		}
	}
	written := 0
	for written < len(ends) && ends[written] <= n {
		written++
	}
	var charge int64
	for _, it := range lines {
		charge += it.charge
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.written += uint64(written)
	if lost := uint64(len(lines) - written); lost > 0 {
		s.dropped += lost
		s.lastDropAt = s.now()
	}
	s.queuedBytes -= charge
	if err == nil {
		return
	}
	s.lastErr = err.Error()
	if isDead(err) && !s.dead {
		// Nothing queued can be written any more.
		s.dead = true
		for _, it := range s.items {
			s.queuedBytes -= it.charge
		}
		s.dropped += uint64(len(s.items))
		clear(s.items)
		s.items = s.items[:0]
		s.pendingDrops = 0
	}
}

// isDead tells a lost output (nobody will ever read it) from a passing error
// such as a full disk.
func isDead(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EBADF) || errors.Is(err, os.ErrClosed)
}

// appendMarker appends the line that tells a reader how many lines this sink
// lost, in the sink's format.
func (s *sink) appendMarker(buf []byte, n uint64) []byte {
	ts := time.Now()
	if s.json {
		return fmt.Appendf(buf, `{"@level":"warn","@message":"%d log lines dropped","@module":"logging","@timestamp":"%s","dropped":%d,"sink":"%s"}`+"\n",
			n, ts.Format(hclog.TimeFormatJSON), n, s.name)
	}
	return fmt.Appendf(buf, "%s [WARN]  logging: %d log lines dropped: sink=%s\n", ts.Format(hclog.TimeFormat), n, s.name)
}

// beginClose stops accepting lines and wakes the drain so it flushes and exits.
func (s *sink) beginClose() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// notifyIdleLocked releases Flush waiters; the caller holds mu and has seen
// the queue empty with nothing in flight.
func (s *sink) notifyIdleLocked() {
	for _, ch := range s.idle {
		close(ch)
	}
	s.idle = nil
}

// idleChan returns a channel closed once everything accepted so far is
// written or dropped (including the marker owed for drops).
func (s *sink) idleChan() <-chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.items) == 0 && !s.inflight && (s.pendingDrops == 0 || s.dead) {
		close(ch)
		return ch
	}
	select {
	case <-s.done:
		// The drain has gone; nothing will ever signal.
		close(ch)
		return ch
	default:
	}
	s.idle = append(s.idle, ch)
	// The drain may be parked on wake with pending drops only.
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return ch
}

func (s *sink) stats(stuckAfter time.Duration) model.LogSinkStats {
	now := s.now()
	var stuckFor time.Duration
	if since := s.inWriteSince.Load(); since > 0 {
		stuckFor = time.Duration(now - since)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recentDrop := s.lastDropAt > 0 && time.Duration(now-s.lastDropAt) < stuckAfter
	return model.LogSinkStats{
		Name:        s.name,
		Enqueued:    s.enqueued,
		Written:     s.written,
		Dropped:     s.dropped,
		QueuedBytes: s.queuedBytes,
		Degraded:    s.dead || stuckFor > stuckAfter || recentDrop,
		StuckForMs:  stuckFor.Milliseconds(),
		LastError:   s.lastErr,
	}
}
