// Package retry holds the one backoff every retry loop uses: a delay that
// starts small and doubles up to a ceiling, so a failing peer (the engine,
// the daemon, the state store) is asked again soon but not hammered.
package retry

import (
	"context"
	"time"
)

// Backoff is a retry delay that starts at First and doubles on each Next, up
// to Max; Reset starts it over. It has no jitter: every caller retries one
// peer of its own, so there is no herd to spread. It is not safe for
// concurrent use; each loop owns its Backoff.
type Backoff struct {
	First time.Duration // the first delay, and the one after Reset
	Max   time.Duration // the ceiling; First is capped by it too
	cur   time.Duration // the delay Next returned last; 0 before the first
}

// Next returns the delay before the next try: First after a Reset, then
// twice the previous one, never above Max.
func (b *Backoff) Next() time.Duration { return b.NextAtMost(b.Max) }

// NextAtMost is Next with a lower ceiling for this step (a caller that
// wants to look again sooner in some state). The ceiling is kept, so the
// doubling carries on from it.
func (b *Backoff) NextAtMost(limit time.Duration) time.Duration {
	if b.cur == 0 {
		b.cur = b.First
	} else {
		b.cur *= 2
	}
	b.cur = min(b.cur, b.Max, limit)
	return b.cur
}

// Reset makes the next delay First again.
func (b *Backoff) Reset() { b.cur = 0 }

// Delay is the delay before try n (0 for the first retry), as Next would
// return it after n earlier calls, for a caller that counts its attempts.
func (b Backoff) Delay(n int) time.Duration {
	b.cur = 0
	d := b.Next()
	for ; n > 0 && d < b.Max; n-- {
		d = b.Next()
	}
	return d
}

// Sleep waits for Next, or until ctx ends; it reports whether the whole
// delay passed.
func (b *Backoff) Sleep(ctx context.Context) bool { return Wait(ctx, b.Next()) }

// Wait waits for d, or until ctx ends; it reports whether the whole of d
// passed.
func Wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
