package container

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// Event is a container event: start, die, stop, destroy, ...
type Event struct {
	ContainerID string
	Action      string
	Labels      map[string]string // the container's labels and the event's attributes
	Time        time.Time
}

// Events streams container events for containers carrying label (key or
// key=value) from since (zero: now) until ctx ends or the stream breaks (an
// engine restart ends it). The error channel receives exactly one value
// when the stream ends; the caller resubscribes from the last event's time.
// A caller should give ctx a deadline and resubscribe when it passes.
func (c *Client) Events(ctx context.Context, label string, since time.Time) (<-chan Event, <-chan error) {
	opts := events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", "container"), filters.Arg("label", label))}
	if !since.IsZero() {
		opts.Since = engineTimestamp(since)
	}
	// The docker client's Events reads the API version without the lock
	// its other calls negotiate under: settle it first with a checked call,
	// or a concurrent first call races with this stream's start.
	vctx, cancel := c.callCtx(ctx)
	c.api.ServerVersion(vctx)
	cancel()
	msgs, errs := c.api.Events(ctx, opts)
	out := make(chan Event)
	done := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case m := <-msgs:
				ev := Event{ContainerID: m.Actor.ID, Action: string(m.Action), Labels: m.Actor.Attributes, Time: time.Unix(0, m.TimeNano)}
				select {
				case out <- ev:
				case <-ctx.Done():
					done <- c.wrap("events", ctx.Err())
					return
				}
			case err := <-errs:
				done <- c.wrap("events", err)
				return
			}
		}
	}()
	return out, done
}
