// Package notification keeps the user's notifications in the state
// document. As in StartOS 0.4 they live in the private document
// (/private/notifications, keyed by id) and only their unread count is public
// (serverInfo.unreadNotificationCount); List hands out copies, so the private
// document itself never leaves. Every change recounts the unread ones in the
// same mutation, so the count always matches.
package notification

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/patch"
)

// DefaultLimit is how many notifications List returns when asked for 0.
const DefaultLimit = 40

// Bounds on what notifications may hold, so no caller can grow the state
// document (and the cost of every write to it) without end. Creating one
// over MaxCount or MaxTotalBytes evicts the oldest; one item over a size
// limit is refused.
const (
	MaxCount        = 200
	MaxTitleBytes   = 256
	MaxMessageBytes = 4 << 10
	MaxDataBytes    = 4 << 10
	MaxTotalBytes   = 256 << 10 // titles, messages and data of all notifications together
)

// Fit truncates a notification the library raises itself (a long error
// message, say) to the size limits, marking the cut with "…".
func Fit(in model.NotificationInput) model.NotificationInput {
	in.Title = truncate(in.Title, MaxTitleBytes)
	in.Message = truncate(in.Message, MaxMessageBytes)
	if len(in.Data) > MaxDataBytes {
		in.Data = nil
	}
	return in
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

func checkSizes(in model.NotificationInput) error {
	for _, f := range []struct {
		name string
		size int
		max  int
	}{{"title", len(in.Title), MaxTitleBytes}, {"message", len(in.Message), MaxMessageBytes}, {"data", len(in.Data), MaxDataBytes}} {
		if f.size > f.max {
			return fmt.Errorf("notification %s is %d bytes, over the limit of %d: %w", f.name, f.size, f.max, errdefs.ErrInvalidRequest)
		}
	}
	return nil
}

func size(n model.Notification) int { return len(n.Title) + len(n.Message) + len(n.Data) }

// evict removes the oldest notifications until one more of size incoming
// fits under MaxCount and MaxTotalBytes.
func evict(all map[uint32]model.Notification, incoming int) {
	total := incoming
	for _, n := range all {
		total += size(n)
	}
	if len(all) < MaxCount && total <= MaxTotalBytes {
		return
	}
	ids := slices.Sorted(maps.Keys(all))
	for _, id := range ids {
		if len(all) < MaxCount && total <= MaxTotalBytes {
			return
		}
		total -= size(all[id])
		delete(all, id)
	}
}

// CheckLevel reports whether l is one of success, info, warning, error.
func CheckLevel(l model.NotificationLevel) error {
	switch l {
	case model.NotificationSuccess, model.NotificationInfo, model.NotificationWarning, model.NotificationError:
		return nil
	}
	return fmt.Errorf("notification level %q is not one of success, info, warning, error: %w", l, errdefs.ErrInvalidRequest)
}

// Create raises a notification and returns its id. Ids only grow: one is
// never handed out twice, even after the newest is removed or the daemon
// restarts. Past MaxCount or MaxTotalBytes the oldest are evicted; a title,
// message or data over its limit is refused.
func Create(ctx context.Context, s *db.Store, in model.NotificationInput) (uint32, error) {
	if err := CheckLevel(in.Level); err != nil {
		return 0, err
	}
	if in.Title == "" {
		return 0, fmt.Errorf("notification title is empty: %w", errdefs.ErrInvalidRequest)
	}
	switch {
	case in.PackageID == "":
		in.PackageID = in.Package
	case in.Package != "" && in.Package != in.PackageID:
		return 0, fmt.Errorf("notification names two packages, packageId %q and package %q: %w", in.PackageID, in.Package, errdefs.ErrInvalidRequest)
	}
	in.Package = ""
	if err := checkSizes(in); err != nil {
		return 0, err
	}
	data := in.Data
	if len(data) > 0 {
		if _, err := patch.Decode(data); err != nil {
			return 0, fmt.Errorf("notification data: %w", err)
		}
	}
	var id uint32
	_, err := s.Mutate(ctx, func(d *model.Document) error {
		p := &d.Private
		if p.NotificationSeq == math.MaxUint32 {
			return fmt.Errorf("notification ids are exhausted: %w", errdefs.ErrUnavailable)
		}
		p.NotificationSeq++
		id = p.NotificationSeq
		evict(p.Notifications, len(in.Title)+len(in.Message)+len(data))
		p.Notifications[id] = model.Notification{
			ID:        id,
			PackageID: in.PackageID,
			CreatedAt: time.Now().UTC(),
			Code:      in.Code,
			Level:     in.Level,
			Title:     in.Title,
			Message:   in.Message,
			Data:      bytes.Clone(data),
		}
		recount(d)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("creating notification: %w", err)
	}
	return id, nil
}

// List returns up to limit notifications, newest first. before > 0 keeps
// only ids below it (the next page starts before the last id of this one);
// limit 0 means DefaultLimit.
func List(s *db.Store, before uint32, limit int) ([]model.Notification, error) {
	if limit < 0 {
		return nil, fmt.Errorf("notification list limit %d is negative: %w", limit, errdefs.ErrInvalidRequest)
	}
	if limit == 0 {
		limit = DefaultLimit
	}
	_, doc := s.Read()
	all := doc.Private.Notifications
	ids := make([]uint32, 0, len(all))
	for id := range all {
		if before == 0 || id < before {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	ids = ids[:min(limit, len(ids))]
	out := make([]model.Notification, len(ids))
	for i, id := range ids {
		n := all[id]
		n.Data = bytes.Clone(n.Data) // the snapshot is shared; hand out a copy
		out[i] = n
	}
	return out, nil
}

// Remove deletes the notifications with the given ids; ids that do not
// exist are ignored.
func Remove(ctx context.Context, s *db.Store, ids []uint32) error {
	return change(ctx, s, "removing notifications", func(d *model.Document) error {
		for _, id := range ids {
			delete(d.Private.Notifications, id)
		}
		return nil
	})
}

// RemoveBefore deletes every notification with an id below before.
func RemoveBefore(ctx context.Context, s *db.Store, before uint32) error {
	return change(ctx, s, "removing notifications", func(d *model.Document) error {
		maps.DeleteFunc(d.Private.Notifications, func(id uint32, _ model.Notification) bool { return id < before })
		return nil
	})
}

// MarkSeen marks the given notifications seen. An unknown id fails the
// whole call and changes nothing.
func MarkSeen(ctx context.Context, s *db.Store, ids []uint32) error {
	return setSeen(ctx, s, ids, true)
}

// MarkUnseen marks the given notifications unseen. An unknown id fails the
// whole call and changes nothing.
func MarkUnseen(ctx context.Context, s *db.Store, ids []uint32) error {
	return setSeen(ctx, s, ids, false)
}

// MarkSeenBefore marks every notification with an id below before seen.
func MarkSeenBefore(ctx context.Context, s *db.Store, before uint32) error {
	return change(ctx, s, "marking notifications seen", func(d *model.Document) error {
		for id, n := range d.Private.Notifications {
			if id < before && !n.Seen {
				n.Seen = true
				d.Private.Notifications[id] = n
			}
		}
		return nil
	})
}

func setSeen(ctx context.Context, s *db.Store, ids []uint32, seen bool) error {
	what := "marking notifications seen"
	if !seen {
		what = "marking notifications unseen"
	}
	return change(ctx, s, what, func(d *model.Document) error {
		all := d.Private.Notifications
		for _, id := range ids {
			n, ok := all[id]
			if !ok {
				return fmt.Errorf("notification %d: %w", id, errdefs.ErrNotFound)
			}
			n.Seen = seen
			all[id] = n
		}
		return nil
	})
}

// change runs fn and the recount as one mutation.
func change(ctx context.Context, s *db.Store, what string, fn func(*model.Document) error) error {
	_, err := s.Mutate(ctx, func(d *model.Document) error {
		if err := fn(d); err != nil {
			return err
		}
		recount(d)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// recount sets serverInfo.unreadNotificationCount from the notifications.
func recount(d *model.Document) {
	var n uint64
	for _, x := range d.Private.Notifications {
		if !x.Seen {
			n++
		}
	}
	d.Public.ServerInfo.UnreadNotificationCount = n
}
