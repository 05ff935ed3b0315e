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
// Actions, when given, are the only events sent (the engine filters them):
// without it every exec in a container (a health check) is three events.
func (c *Client) Events(ctx context.Context, label string, since time.Time, actions ...string) (<-chan Event, <-chan error) {
	opts := events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", "container"), filters.Arg("label", label))}
	for _, a := range actions {
		opts.Filters.Add("event", a)
	}
	if !since.IsZero() {
		opts.Since = engineTimestamp(since)
	}
	msgs, errs := c.engine(ctx).Events(ctx, opts)
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
