// Package feed is the one bounded queue between a producer in the library and a
// single subscriber (a log follower, a state-document watcher, a progress
// stream). A producer never waits for a subscriber: when the queue is full the
// feed ends with ErrFellBehind, and the subscriber starts again from a fresh
// snapshot.
package feed

import (
	"context"
	"errors"
	"sync"
)

// ErrFellBehind ends a feed whose subscriber did not keep up.
var ErrFellBehind = errors.New("subscriber fell behind")

// ErrClosed ends a feed that its subscriber closed.
var ErrClosed = errors.New("feed closed")

// ErrSourceClosed ends a feed whose producer shut down.
var ErrSourceClosed = errors.New("source closed")

// DefaultSize is the queue length used when a caller has no better number.
const DefaultSize = 256

// Feed is a bounded single-subscriber queue. Offer and End are for the producer;
// Recv, C, Done, Err and Close for the subscriber. All methods are safe for
// concurrent use.
type Feed[T any] struct {
	ch   chan T
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	err  error
}

// New returns a feed holding at most size undelivered values.
func New[T any](size int) *Feed[T] {
	if size <= 0 {
		size = DefaultSize
	}
	return &Feed[T]{ch: make(chan T, size), done: make(chan struct{})}
}

// Offer queues v without blocking. When the queue is full the feed ends with
// ErrFellBehind. It reports whether v was queued.
func (f *Feed[T]) Offer(v T) bool {
	select {
	case <-f.done:
		return false
	default:
	}
	select {
	case f.ch <- v:
		return true
	default:
		f.End(ErrFellBehind)
		return false
	}
}

// End stops the feed with err (ErrSourceClosed when nil). Values already queued
// are still delivered by Recv before it reports err. Only the first End counts.
func (f *Feed[T]) End(err error) {
	if err == nil {
		err = ErrSourceClosed
	}
	f.once.Do(func() {
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
		close(f.done)
	})
}

// Close is End(ErrClosed), for the subscriber.
func (f *Feed[T]) Close() { f.End(ErrClosed) }

// Done is closed when the feed has ended.
func (f *Feed[T]) Done() <-chan struct{} { return f.done }

// Ended reports whether the feed has ended; producers use it to prune.
func (f *Feed[T]) Ended() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// Err returns why the feed ended, or nil while it runs.
func (f *Feed[T]) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Recv returns the next value. After the feed ends it drains what was queued,
// then returns the reason the feed ended.
func (f *Feed[T]) Recv(ctx context.Context) (T, error) {
	select {
	case v := <-f.ch:
		return v, nil
	default:
	}
	var zero T
	select {
	case v := <-f.ch:
		return v, nil
	case <-f.done:
		select {
		case v := <-f.ch:
			return v, nil
		default:
			return zero, f.Err()
		}
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Len is the number of values waiting.
func (f *Feed[T]) Len() int { return len(f.ch) }
