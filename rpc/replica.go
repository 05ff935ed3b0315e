package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/patch"
)

// Replica is a live local copy of the state document (or the part at a
// pointer), kept current through db.subscribe. It checks that revision ids
// follow each other and subscribes again, resuming where it can, after a gap
// or when it fell behind. Readers never wait for the network.
type Replica struct {
	c       *Client
	pointer string
	changed chan struct{} // one slot: "something changed", coalesced
	stop    context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex
	rev     uint64          // guarded by mu
	doc     any             // guarded by mu; decoded with patch.Decode
	err     error           // guarded by mu; why the replica stopped
	waiters []chan struct{} // guarded by mu; woken on every change
}

// NewReplica subscribes to pointer ("" for /public) and keeps a copy until
// Close or until the connection ends (see Err).
func NewReplica(ctx context.Context, c *Client, pointer string) (*Replica, error) {
	r := &Replica{c: c, pointer: pointer, changed: make(chan struct{}, 1), done: make(chan struct{})}
	sub, err := r.subscribe(ctx, 0)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	r.stop = stop
	go r.run(runCtx, sub)
	return r, nil
}

// subscribe (re)starts the stream; since > 0 asks to resume after it.
func (r *Replica) subscribe(ctx context.Context, since uint64) (*Subscription, error) {
	sub, err := r.c.Subscribe(ctx, "db.subscribe", model.DBSubscribeParams{Pointer: r.pointer, Since: since})
	if err != nil {
		return nil, err
	}
	var res model.DBSubscribeResult
	if err := json.Unmarshal(sub.Value, &res); err != nil {
		sub.Close()
		return nil, fmt.Errorf("db.subscribe: %w", err)
	}
	if res.Resumed {
		return sub, nil // the missed revisions come first
	}
	if res.Dump == nil {
		sub.Close()
		return nil, errors.New("db.subscribe: answer has neither dump nor resumed")
	}
	doc, err := patch.Decode(res.Dump.Value)
	if err != nil {
		sub.Close()
		return nil, fmt.Errorf("db.subscribe: dump: %w", err)
	}
	r.mu.Lock()
	r.rev, r.doc = res.Dump.ID, doc
	r.mu.Unlock()
	r.signal()
	return sub, nil
}

func (r *Replica) run(ctx context.Context, sub *Subscription) {
	defer close(r.done)
	for {
		raw, err := sub.Next(ctx)
		if err == nil {
			var rev model.Revision
			if err = json.Unmarshal(raw, &rev); err == nil {
				if gap := r.apply(rev); gap == nil {
					continue
				} else {
					err = gap
				}
			}
		}
		if ctx.Err() != nil {
			sub.Close()
			r.fail(ErrReplicaClosed)
			return
		}
		// A gap, a subscriber that fell behind, or a patch that did not
		// apply: start again from what we have.
		if errors.Is(err, errGap) || errors.Is(err, feed.ErrFellBehind) || errors.Is(err, errBadPatch) {
			sub.Close()
			if sub, err = r.subscribe(ctx, r.Revision()); err == nil {
				continue
			}
		}
		r.fail(err)
		return
	}
}

var (
	errGap      = errors.New("revision gap")
	errBadPatch = errors.New("patch does not apply")
	// ErrReplicaClosed is Err after Close.
	ErrReplicaClosed = errors.New("replica closed")
)

// apply takes one revision: the next one is applied, an old one ignored, a
// later one is a gap.
func (r *Replica) apply(rev model.Revision) error {
	r.mu.Lock()
	switch {
	case rev.ID <= r.rev:
		r.mu.Unlock()
		return nil
	case rev.ID != r.rev+1:
		have := r.rev
		r.mu.Unlock()
		return fmt.Errorf("%w: have %d, got %d", errGap, have, rev.ID)
	}
	doc, err := patch.Apply(r.doc, rev.Patch)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("%w: revision %d: %v", errBadPatch, rev.ID, err)
	}
	r.rev, r.doc = rev.ID, doc
	r.mu.Unlock()
	r.signal()
	return nil
}

func (r *Replica) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
	r.mu.Lock()
	ws := r.waiters
	r.waiters = nil
	r.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

func (r *Replica) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.signal()
}

// Revision is the revision the copy is at.
func (r *Replica) Revision() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rev
}

// Value returns the copy as JSON, with its revision.
func (r *Replica) Value() (json.RawMessage, uint64) {
	r.mu.Lock()
	doc, rev := r.doc, r.rev
	r.mu.Unlock()
	b, _ := json.Marshal(doc) // patch.Apply never modifies doc in place
	return b, rev
}

// Decode decodes the copy into v.
func (r *Replica) Decode(v any) (uint64, error) {
	b, rev := r.Value()
	return rev, json.Unmarshal(b, v)
}

// Changed receives a value after one or more changes; coalesced.
func (r *Replica) Changed() <-chan struct{} { return r.changed }

// Err is why the replica stopped following, or nil while it follows.
func (r *Replica) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// WaitFor returns once the copy has reached rev (as reported by a mutating
// call), or the replica stopped, or ctx ended.
func (r *Replica) WaitFor(ctx context.Context, rev uint64) error {
	for {
		r.mu.Lock()
		if r.rev >= rev {
			r.mu.Unlock()
			return nil
		}
		if r.err != nil {
			err := r.err
			r.mu.Unlock()
			return err
		}
		w := make(chan struct{})
		r.waiters = append(r.waiters, w)
		r.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops following and waits for the goroutine.
func (r *Replica) Close() {
	r.stop()
	<-r.done
}
