package db

import (
	"fmt"
	"slices"

	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/patch"
)

type subscriber struct {
	ptr  patch.Pointer
	key  string // ptr as text, to scope each revision once per pointer
	feed *feed.Feed[model.Revision]
}

// Subscribe returns the value at pointer and a feed of the revisions after
// it, scoped to pointer (paths relative to it, see patch.Scope). The pointer
// follows the rules of Dump. The dump and the feed are taken atomically with
// respect to commits: the feed starts exactly at the revision after the
// dump's.
//
// Every revision is delivered, including those that changed nothing under
// pointer (or only /private): they come with an empty patch, so ids follow
// each other and a gap means something was lost. The feed holds
// Options.QueueSize undelivered revisions; one more and it ends with
// feed.ErrFellBehind (a writer never waits). Close the feed to unsubscribe.
// Revisions and their patches are shared between subscribers: read only.
//
// since > 0 asks to resume from that revision: when the recent revisions
// after it are still held, the dump has ID since and a nil Value, and the
// feed starts with the revisions since+1 onwards. Otherwise (since is too
// old, or in the future) the dump is a fresh one, as for since == 0.
func (s *Store) Subscribe(pointer string, since uint64) (model.Dump, *feed.Feed[model.Revision], error) {
	ptr, err := publicPointer(pointer)
	if err != nil {
		return model.Dump{}, nil, err
	}
	s.subMu.Lock()
	if s.closed {
		s.subMu.Unlock()
		return model.Dump{}, nil, errClosed
	}
	snap := s.cur.Load()
	backlog, resumed := s.backlogLocked(ptr, since, snap.rev)
	f := feed.New[model.Revision](s.queueSize + len(backlog))
	for _, r := range backlog {
		f.Offer(r)
	}
	s.subs = append(s.subs, &subscriber{ptr: ptr, key: ptr.String(), feed: f})
	s.subMu.Unlock()

	if resumed {
		return model.Dump{ID: since}, f, nil
	}
	v, err := valueAt(snap, ptr)
	if err != nil {
		f.End(err)
		return model.Dump{}, nil, err
	}
	return model.Dump{ID: snap.rev, Value: v}, f, nil
}

// backlogLocked returns the scoped revisions since+1..rev when they are all
// still held and none needs a resync. It reports whether the subscriber can
// resume from since.
func (s *Store) backlogLocked(ptr patch.Pointer, since, rev uint64) ([]model.Revision, bool) {
	if since == 0 || since > rev {
		return nil, false
	}
	if since == rev {
		return nil, true
	}
	window := s.recent
	if len(window) > s.queueSize {
		window = window[len(window)-s.queueSize:]
	}
	if len(window) == 0 || window[0].ID > since+1 || window[len(window)-1].ID != rev {
		return nil, false
	}
	out := make([]model.Revision, 0, rev-since)
	for _, r := range window[since+1-window[0].ID:] {
		p, resync := patch.Scope(r.Patch, ptr)
		if resync {
			// Needs the document as of r, which is gone; a dump is as good.
			return nil, false
		}
		out = append(out, model.Revision{ID: r.ID, Patch: p})
	}
	return out, true
}

// publish makes final the current snapshot and sends the committed steps to
// the subscribers. Only the swap and the list copy happen under subMu, so a
// Subscribe either sees the old snapshot and gets these revisions, or sees
// final and does not; the sending is non-blocking (feed.Offer).
func (s *Store) publish(final *snapshot, steps []step) {
	s.subMu.Lock()
	s.cur.Store(final)
	for _, st := range steps {
		if st.snap != nil {
			s.recent = append(s.recent, st.rev)
		}
	}
	if len(s.recent) > 2*s.queueSize {
		s.recent = slices.Clone(s.recent[len(s.recent)-s.queueSize:])
	}
	s.subs = slices.DeleteFunc(s.subs, func(sub *subscriber) bool { return sub.feed.Ended() })
	subs := slices.Clone(s.subs)
	s.subMu.Unlock()
	s.wokeSubscribers = len(subs) > 0

	for _, st := range steps {
		if st.snap == nil {
			continue
		}
		scoped := make(map[string]model.Patch, 1)
		for _, sub := range subs {
			p, ok := scoped[sub.key]
			if !ok {
				var err error
				if p, err = scope(st, sub.ptr); err != nil {
					s.log.Error("cannot scope a revision; dropping the subscriber", "pointer", sub.key, "error", err)
					sub.feed.End(err)
					continue
				}
				scoped[sub.key] = p
			}
			sub.feed.Offer(model.Revision{ID: st.rev.ID, Patch: p})
		}
	}
}

// scope is st's patch as a subscriber at ptr sees it.
func scope(st step, ptr patch.Pointer) (model.Patch, error) {
	p, resync := patch.Scope(st.rev.Patch, ptr)
	if !resync {
		return p, nil
	}
	v, err := valueAt(st.snap, ptr)
	if err != nil {
		return nil, fmt.Errorf("db: resync of %q at revision %d: %w", ptr, st.rev.ID, err)
	}
	return model.Patch{{Op: model.OpReplace, Path: "", Value: v}}, nil
}
