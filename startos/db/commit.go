package db

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// A request is one queued Mutate. Whoever moves state away from pending owns
// it: the committer by claiming it (and then always answers), the caller by
// cancelling it (and then the committer skips it).
type request struct {
	fn  func(*model.Document) error
	pkg *packageMutation // instead of fn: a change to one package's entry
	// Neither fn nor pkg: a Ping, answered in turn with nothing changed.
	state  atomic.Int32
	result chan result // buffered, receives once
}

const (
	pending int32 = iota
	claimed
	cancelled
)

type result struct {
	rev model.Revision
	err error
}

var errNilMutation = fmt.Errorf("db: mutation function is nil: %w", errdefs.ErrInvalidRequest)

// Mutate runs fn on a private copy of the document and commits the change as
// the next revision. It returns once the revision is on disk (fsynced) and
// has been handed to subscribers; its patch is the change fn made to the
// whole document (private included).
//
// If fn returns an error or panics, nothing changes and Mutate returns that
// error (a panic becomes an error). If fn changes nothing, no revision is
// used: Mutate returns the current revision id with an empty patch.
// Concurrent Mutates are committed together, one fsync for the group, in
// the order they were queued; each fn sees the changes of the ones before it.
//
// fn runs while no other mutation runs (on the committer goroutine, or on
// the caller's when nothing else is queued): it must be quick, do no I/O,
// not call the Store, and not keep the document after it returns. When ctx ends
// before the committer has taken the mutation, it is not applied and Mutate
// returns ctx's error; once taken, Mutate waits for the commit.
func (s *Store) Mutate(ctx context.Context, fn func(*model.Document) error) (model.Revision, error) {
	if fn == nil {
		return model.Revision{}, errNilMutation
	}
	// A caller that has already given up gets no mutation: without this
	// check, select could pick the send as often as the cancel.
	if err := ctx.Err(); err != nil {
		return model.Revision{}, fmt.Errorf("db: mutation not applied: %w", err)
	}
	return s.enqueue(ctx, &request{fn: fn, result: make(chan result, 1)})
}

// Ping passes through the committer like a mutation that changes nothing,
// without copying or comparing the document: the liveness probe of the
// committer, which a no-op Mutate made cost a walk of the whole document
// every second.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("db: ping: %w", err)
	}
	_, err := s.enqueue(ctx, &request{result: make(chan result, 1)})
	return err
}

// ErrNoPackage is MutatePackage's answer for an id that is not in
// public.packageData.
var ErrNoPackage = fmt.Errorf("db: no such package: %w", errdefs.ErrNotFound)

type packageMutation struct {
	id string
	fn func(*model.PackageDataEntry) error
}

// MutatePackage is Mutate for one package's entry (public.packageData[id]):
// fn changes a copy of the entry, and the mutation costs what the entry
// costs, however large the rest of the document is. The document around the
// new entry is shared with the revision before it. Install progress, health
// results and status use it. When id has no entry, fn is not called and
// MutatePackage returns an error wrapping ErrNoPackage. The rules of Mutate
// apply otherwise.
func (s *Store) MutatePackage(ctx context.Context, id string, fn func(*model.PackageDataEntry) error) (model.Revision, error) {
	if fn == nil {
		return model.Revision{}, errNilMutation
	}
	if err := ctx.Err(); err != nil {
		return model.Revision{}, fmt.Errorf("db: mutation not applied: %w", err)
	}
	return s.enqueue(ctx, &request{pkg: &packageMutation{id: id, fn: fn}, result: make(chan result, 1)})
}

func (s *Store) enqueue(ctx context.Context, r *request) (model.Revision, error) {
	// When nothing is queued and no commit runs, the caller commits on its
	// own goroutine: two goroutine handoffs fewer, which is most of a lone
	// writer's overhead over a raw bbolt update. Writers that queue up
	// meanwhile join its group, or the committer's next.
	if len(s.reqs) == 0 && s.commitMu.TryLock() {
		if s.closing() {
			s.commitMu.Unlock()
			return model.Revision{}, errClosed
		}
		s.linger(1)
		s.commit(s.gather(r))
		s.commitMu.Unlock()
		res := <-r.result
		return res.rev, res.err
	}
	select {
	case s.reqs <- r:
		s.queued.Add(1)
		select {
		case s.kick <- struct{}{}:
		default: // the committer is already told
		}
	case <-ctx.Done():
		return model.Revision{}, fmt.Errorf("db: mutation not applied: %w", ctx.Err())
	case <-s.quit:
		return model.Revision{}, errClosed
	}
	select {
	case res := <-r.result:
		return res.rev, res.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(pending, cancelled) {
			return model.Revision{}, fmt.Errorf("db: mutation not applied: %w", ctx.Err())
		}
	case <-s.done:
		if r.state.CompareAndSwap(pending, cancelled) {
			return model.Revision{}, errClosed
		}
	}
	// The committer claimed it and always answers what it claims.
	res := <-r.result
	return res.rev, res.err
}

// run is the committer goroutine: it commits what callers queued while
// another commit ran. It takes requests only once it holds commitMu, so a
// caller committing meanwhile gathers them into its own group instead of
// losing one to the next commit.
func (s *Store) run() {
	defer close(s.done)
	for {
		select {
		case <-s.quit:
			return
		case <-s.kick:
		}
		s.commitMu.Lock()
		for len(s.reqs) > 0 && !s.closing() {
			s.linger(0)
			s.commit(s.gather(nil))
		}
		s.commitMu.Unlock()
	}
}

// closing reports whether Close has begun.
func (s *Store) closing() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// linger lets goroutines the last commit woke run before this one starts.
// Subscribers it handed revisions to wait in this thread's run queue, so it
// yields once for them when there were any (without that, their receipt
// waits behind this commit's work: 1000 subscribers' fan-out p99 tripled).
// And writers it answered are re-queueing just then: it yields while fewer
// requests are queued than the last commit had (self counts the
// committer's own), a bounded number of times, so a group that shrinks
// costs a few yields once. Without that, sixteen writers share an fsync
// about eight to a commit. A lone writer with no subscribers does not yield.
func (s *Store) linger(self int) {
	const maxYields = 32 // each is a microsecond or two
	if s.wokeSubscribers {
		runtime.Gosched()
	}
	for range maxYields {
		queued := len(s.reqs)
		if queued+self >= s.lastBatch || queued == maxBatch {
			return
		}
		runtime.Gosched()
	}
}

// gather is first (when there is one) and what is queued behind it, up to
// maxBatch.
func (s *Store) gather(first *request) []*request {
	batch := make([]*request, 0, 1)
	if first != nil {
		batch = append(batch, first)
	}
	for len(batch) < maxBatch {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// step is one claimed request's outcome within a batch.
type step struct {
	req  *request
	snap *snapshot // the document after it; nil when it changed nothing or failed
	rev  model.Revision
	err  error
}

func (s *Store) commit(batch []*request) {
	s.lastBatch = len(batch)
	prev := s.cur.Load()
	state := prev
	steps := make([]step, 0, len(batch))
	var revs []model.Revision
	for _, r := range batch {
		if !r.state.CompareAndSwap(pending, claimed) {
			continue
		}
		if r.fn == nil && r.pkg == nil { // a Ping
			steps = append(steps, step{req: r, rev: model.Revision{ID: state.rev, Patch: model.Patch{}}})
			continue
		}
		var next *snapshot
		var p model.Patch
		var err error
		began := time.Now()
		if r.pkg != nil {
			next, p, err = s.mutatePackage(state, r.pkg)
		} else {
			next, p, err = s.mutateOne(state, r.fn)
		}
		s.applyNanos.Add(int64(time.Since(began)))
		st := step{req: r, err: err}
		switch {
		case err != nil:
		case len(p) == 0:
			st.rev = model.Revision{ID: state.rev, Patch: model.Patch{}}
		default:
			next.rev = state.rev + 1
			st.snap, st.rev = next, model.Revision{ID: next.rev, Patch: p}
			revs = append(revs, st.rev)
			state = next
		}
		steps = append(steps, st)
	}

	if len(revs) > 0 {
		compact := state.rev-s.snapRev >= s.compactEvery
		var snapRaw []byte
		var err error
		if compact {
			// Once per CompactEvery revisions: the only whole-document
			// encoding on the write path.
			if snapRaw, err = json.Marshal(state.doc); err != nil {
				err = fmt.Errorf("encoding the snapshot: %w", err)
			}
		}
		var seen int64 // bbolt's high-water mark before this commit
		if err == nil {
			err = s.bolt.Update(func(tx *bolt.Tx) error {
				seen = tx.Size()
				return write(tx, revs, compact, snapRaw, s.snapRev)
			})
		}
		s.commits.Add(1)
		if err != nil {
			err = fmt.Errorf("db: committing revisions %d..%d: %w: %w", revs[0].ID, state.rev, err, errdefs.ErrFilesystem)
			s.log.Error("commit failed; the revisions are dropped", "error", err)
			for i := range steps {
				if steps[i].err == nil {
					steps[i].err = err
				}
			}
			s.answer(steps)
			return
		}
		if compact {
			s.log.Debug("compacted the state log", "snapshot", state.rev, "dropped_through", s.snapRev)
			s.snapRev = state.rev
		}
		s.mutations.Add(uint64(len(revs)))
		s.publish(state, steps)
		s.answer(steps)
		s.keepAhead(s.reserve, seen) // after the answers: callers need not wait for it
		return
	}
	s.answer(steps)
}

func (s *Store) answer(steps []step) {
	for _, st := range steps {
		st.req.result <- result{rev: st.rev, err: st.err}
	}
}

// mutateOne runs fn on a copy of state's document and returns the new
// snapshot (rev not yet set) and the patch from state to it. The copy shares
// the bulk of the document (see cloneDocument) and the patch comes from a
// walk that skips what is shared, so the cost follows the document's shape
// and the change, not its size in bytes.
func (s *Store) mutateOne(state *snapshot, fn func(*model.Document) error) (*snapshot, model.Patch, error) {
	doc := cloneDocument(state.doc)
	if err := s.call(fn, doc); err != nil {
		return nil, nil, err
	}
	doc.Normalize()
	p, err := diffDocuments(state.doc, doc)
	if err != nil {
		return nil, nil, fmt.Errorf("db: the mutated document does not encode: %w: %w", err, errdefs.ErrInvalidRequest)
	}
	return &snapshot{doc: doc}, p, nil
}

// mutatePackage is mutateOne for one entry: the copy, the diff and the new
// document's own parts (its struct and the packageData map) are all it costs.
func (s *Store) mutatePackage(state *snapshot, m *packageMutation) (*snapshot, model.Patch, error) {
	old, ok := state.doc.Public.PackageData[m.id]
	if !ok {
		return nil, nil, fmt.Errorf("package %q: %w", m.id, ErrNoPackage)
	}
	e := old.Clone() // hand-written, checked to reach every field, and faster than cloneValue
	if err := call(s, func() error { return m.fn(&e) }); err != nil {
		return nil, nil, err
	}
	e.Normalize()
	d := &differ{path: []string{"public", "packageData", m.id}, ops: model.Patch{}}
	if err := d.diff(reflect.ValueOf(old), reflect.ValueOf(e)); err != nil {
		return nil, nil, fmt.Errorf("db: the mutated package %q does not encode: %w: %w", m.id, err, errdefs.ErrInvalidRequest)
	}
	if len(d.ops) == 0 {
		return state, d.ops, nil
	}
	doc := *state.doc
	doc.Public.PackageData = maps.Clone(state.doc.Public.PackageData)
	doc.Public.PackageData[m.id] = e
	return &snapshot{doc: &doc}, d.ops, nil
}

// call runs fn, turning a panic into an error.
func (s *Store) call(fn func(*model.Document) error, doc *model.Document) error {
	return call(s, func() error { return fn(doc) })
}

func call(s *Store, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("mutation panicked; nothing was changed", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("db: mutation panicked (nothing was changed): %v: %w", r, errdefs.ErrUnknown)
		}
	}()
	return fn()
}
