package logging

import (
	"fmt"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

// Paging limits for Entries and Follow.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

type ringEntry struct {
	seq   uint64
	time  time.Time
	level hclog.Level
	msg   string
}

const ringEntrySize = int64(unsafe.Sizeof(ringEntry{}))

// ring keeps the most recent entries in memory, bounded by a count and by
// bytes, and hands new entries to followers. It is filled on the caller's
// path, so everything under mu is a copy or a non-blocking send.
type ring struct {
	mu        sync.Mutex
	buf       []ringEntry // circular; the oldest is at start
	start, n  int
	msgBytes  int64
	maxBytes  int64  // budget for message bytes
	next      uint64 // seq of the next entry; the first is 1
	followers []*feed.Feed[model.LogEntry]
	closed    bool
}

func newRing(size int, budget int64) *ring {
	// Slots are allocated up front and may take at most half the budget, which
	// caps the entry count for small budgets; messages get the rest.
	size = int(min(int64(size), max(1, budget/2/ringEntrySize)))
	return &ring{buf: make([]ringEntry, size), maxBytes: budget - int64(size)*ringEntrySize, next: 1}
}

func msgCharge(msg string) int64 { return int64(len(msg)+15) &^ 15 }

func (r *ring) add(t time.Time, level hclog.Level, msg string) {
	charge := msgCharge(msg)
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && (r.n == len(r.buf) || r.msgBytes+charge > r.maxBytes) {
		old := &r.buf[r.start]
		r.msgBytes -= msgCharge(old.msg)
		*old = ringEntry{}
		r.start = (r.start + 1) % len(r.buf)
		r.n--
	}
	e := ringEntry{seq: r.next, time: t, level: level, msg: msg}
	r.next++
	r.buf[(r.start+r.n)%len(r.buf)] = e
	r.n++
	r.msgBytes += charge
	if len(r.followers) == 0 {
		return
	}
	le := e.entry()
	live := r.followers[:0]
	for _, f := range r.followers {
		// Offer never blocks; a follower that is full ends with ErrFellBehind.
		if f.Offer(le) {
			live = append(live, f)
		}
	}
	clear(r.followers[len(live):])
	r.followers = live
}

func (e ringEntry) entry() model.LogEntry {
	return model.LogEntry{
		Timestamp: e.time,
		Level:     e.level.String(),
		Message:   e.msg,
		Cursor:    strconv.FormatUint(e.seq, 10),
		BootID:    model.BootID(),
	}
}

// at returns the entry with sequence number seq; the caller checks bounds.
func (r *ring) at(seq uint64) ringEntry {
	oldest := r.next - uint64(r.n)
	return r.buf[(r.start+int(seq-oldest))%len(r.buf)]
}

// window picks the sequence range [from, to) a page covers. tail asks for the
// newest entries of the range when it holds more than limit.
func (r *ring) window(after, before uint64, limit int, tail bool) (from, to uint64) {
	from = max(r.next-uint64(r.n), after)
	to = min(r.next, before)
	if from >= to {
		return 0, 0
	}
	if to-from > uint64(limit) {
		if tail {
			from = to - uint64(limit)
		} else {
			to = from + uint64(limit)
		}
	}
	return from, to
}

func (r *ring) pageLocked(p model.LogsParams, follow bool) ([]ringEntry, error) {
	limit, err := checkLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	after, before := uint64(0), uint64(1<<64-1)
	tail := true
	if p.Cursor != "" {
		c, err := parseCursor(p.Cursor)
		if err != nil {
			return nil, err
		}
		if p.Before {
			before = c
		} else {
			// A follower resumes with the newest entries so its feed joins on
			// without a gap; a pager reads forward from the cursor.
			after, tail = c, follow
			if c < 1<<64-1 {
				after = c + 1
			}
		}
	}
	from, to := r.window(after, before, limit, tail)
	out := make([]ringEntry, 0, to-from)
	for seq := from; seq < to; seq++ {
		out = append(out, r.at(seq))
	}
	return out, nil
}

func checkLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, fmt.Errorf("logs: limit %d is negative: %w", limit, errdefs.ErrInvalidRequest)
	case limit == 0:
		return DefaultLimit, nil
	default:
		return min(limit, MaxLimit), nil
	}
}

func parseCursor(c string) (uint64, error) {
	n, err := strconv.ParseUint(c, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("logs: cursor %q is not a log cursor: %w", c, errdefs.ErrInvalidRequest)
	}
	return n, nil
}

func toPage(entries []ringEntry) model.LogPage {
	page := model.LogPage{Entries: make([]model.LogEntry, len(entries))}
	for i, e := range entries {
		page.Entries[i] = e.entry()
	}
	if len(entries) > 0 {
		page.StartCursor = page.Entries[0].Cursor
		page.EndCursor = page.Entries[len(entries)-1].Cursor
	}
	return page
}

func (r *ring) entries(p model.LogsParams) (model.LogPage, error) {
	r.mu.Lock()
	raw, err := r.pageLocked(p, false)
	r.mu.Unlock()
	if err != nil {
		return model.LogPage{}, err
	}
	return toPage(raw), nil
}

func (r *ring) follow(p model.LogsParams, queue int) (model.LogPage, *feed.Feed[model.LogEntry], error) {
	if p.Before {
		return model.LogPage{}, nil, fmt.Errorf("logs follow: before cannot be set when following: %w", errdefs.ErrInvalidRequest)
	}
	f := feed.New[model.LogEntry](queue)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return model.LogPage{}, nil, fmt.Errorf("logs follow: logging is closed: %w", errdefs.ErrUnavailable)
	}
	raw, err := r.pageLocked(p, true)
	if err == nil {
		// Registered under the same lock as the page was read: no entry falls
		// between the page and the feed.
		r.followers = append(r.followers, f)
	}
	r.mu.Unlock()
	if err != nil {
		return model.LogPage{}, nil, err
	}
	return toPage(raw), f, nil
}

// close ends every follower; the ring stays readable.
func (r *ring) close() {
	r.mu.Lock()
	followers := r.followers
	r.followers = nil
	r.closed = true
	r.mu.Unlock()
	for _, f := range followers {
		f.End(feed.ErrSourceClosed)
	}
}
