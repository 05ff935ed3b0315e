package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

const (
	defaultLogLimit = 50
	maxLogLimit     = 10000
	followQueue     = 256
)

var errPageFull = errors.New("page full")

func logEntry(l container.LogLine) model.PackageLogEntry {
	t := l.Time.UTC()
	return model.PackageLogEntry{Timestamp: t, Stream: l.Stream, Message: l.Text, Cursor: t.Format(time.RFC3339Nano), BootID: model.BootID()}
}

func page(entries []model.PackageLogEntry) model.PackageLogPage {
	p := model.PackageLogPage{Entries: entries}
	if p.Entries == nil {
		p.Entries = []model.PackageLogEntry{}
	}
	if len(entries) > 0 {
		p.StartCursor, p.EndCursor = entries[0].Cursor, entries[len(entries)-1].Cursor
	}
	return p
}

// Logs returns one page of package id's main container log (package.logs):
// the newest Limit lines, or those after (before, with Before) Cursor.
// Cursors are the lines' timestamps.
func (m *Manager) Logs(ctx context.Context, id string, p model.LogsParams) (model.PackageLogPage, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultLogLimit
	}
	if limit > maxLogLimit {
		return model.PackageLogPage{}, fmt.Errorf("logs of %q: limit %d is over %d: %w", id, limit, maxLogLimit, errdefs.ErrInvalidRequest)
	}
	if _, _, err := m.installedAny(id); err != nil {
		return model.PackageLogPage{}, fmt.Errorf("logs: %w", err)
	}
	var cur time.Time
	if p.Cursor != "" {
		t, err := time.Parse(time.RFC3339Nano, p.Cursor)
		if err != nil {
			return model.PackageLogPage{}, fmt.Errorf("logs of %q: cursor %q is not a timestamp from a log entry: %w", id, p.Cursor, errdefs.ErrInvalidRequest)
		}
		cur = t
	} // before without a cursor is the newest page, as in StartOS
	name := ContainerName(id)
	var out []model.PackageLogEntry
	var err error
	switch {
	case cur.IsZero():
		err = m.engine.Logs(ctx, name, container.LogsOptions{Tail: limit}, func(l container.LogLine) error {
			out = append(out, logEntry(l))
			return nil
		})
	case p.Before:
		// The engine's tail counts from the end of the whole log, so keep
		// the last limit lines before the cursor here.
		err = m.engine.Logs(ctx, name, container.LogsOptions{Until: cur}, func(l container.LogLine) error {
			if !l.Time.Before(cur) {
				return nil
			}
			out = append(out, logEntry(l))
			if len(out) > limit {
				out = out[1:]
			}
			return nil
		})
	default:
		err = m.engine.Logs(ctx, name, container.LogsOptions{Since: cur}, func(l container.LogLine) error {
			if !l.Time.After(cur) {
				return nil
			}
			out = append(out, logEntry(l))
			if len(out) >= limit {
				return errPageFull
			}
			return nil
		})
	}
	if err != nil && !errors.Is(err, errPageFull) {
		return model.PackageLogPage{}, fmt.Errorf("logs of %q: %w", id, err)
	}
	return page(out), nil
}

// FollowLogs returns the newest page of package id's log and a feed of the
// lines after it (package.logs.follow). The feed follows the container across
// restarts until the caller closes it or the manager closes; a reader that
// falls behind is dropped with feed.ErrFellBehind.
func (m *Manager) FollowLogs(ctx context.Context, id string, p model.LogsParams) (model.PackageLogPage, *feed.Feed[model.PackageLogEntry], error) {
	p.Cursor, p.Before = "", false
	pg, err := m.Logs(ctx, id, p)
	if err != nil {
		return pg, nil, err
	}
	since := time.Now()
	if n := len(pg.Entries); n > 0 {
		since = pg.Entries[n-1].Timestamp
	}
	f := feed.New[model.PackageLogEntry](followQueue)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return pg, nil, fmt.Errorf("logs of %q: service manager is closed: %w", id, errdefs.ErrUnavailable)
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		m.follow(id, since, len(pg.Entries) > 0, f)
	}()
	return pg, f, nil
}

// follow feeds f with lines after since until f ends or the manager closes.
func (m *Manager) follow(id string, since time.Time, exclusive bool, f *feed.Feed[model.PackageLogEntry]) {
	ctx, cancel := context.WithCancel(m.ctx)
	watcher := make(chan struct{})
	go func() {
		defer close(watcher)
		select {
		case <-f.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		cancel()
		<-watcher
	}()
	defer f.End(fmt.Errorf("log follow of %q ended: %w", id, errdefs.ErrUnavailable))
	for ctx.Err() == nil {
		err := m.engine.Logs(ctx, ContainerName(id), container.LogsOptions{Since: since, Follow: true}, func(l container.LogLine) error {
			if exclusive && !l.Time.After(since) {
				return nil
			}
			since, exclusive = l.Time, true
			if !f.Offer(logEntry(l)) {
				return feed.ErrFellBehind
			}
			return nil
		})
		if errors.Is(err, feed.ErrFellBehind) || f.Ended() {
			return
		}
		// The stream ends when the container stops; pick it up again when
		// it runs (or is recreated).
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
