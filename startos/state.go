package startos

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/notification"
)

// openState opens the state document under <data-dir>/db and fills
// serverInfo with what the daemon knows at start.
func (s *Server) openState(ctx context.Context) error {
	dir := s.path("db")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("startos: create %s: %w", dir, err)
	}
	host, _ := os.Hostname()
	store, err := db.Open(ctx, db.Options{
		Path:   s.path("db", "state.db"),
		Logger: s.log.Named("db"),
		Init: func(d *model.Document) {
			info := &d.Public.ServerInfo
			if info.Name == "" {
				info.Name = host
			}
			if info.Hostname == "" {
				info.Hostname = host
			}
			info.Version = Version
			info.Arch = Arch()
			info.Platform = runtime.GOOS + "-" + runtime.GOARCH
			info.RAM = totalRAM()
			info.StatusInfo.ShuttingDown = false
			info.StatusInfo.Restarting = false
			info.CAFingerprint = s.ca.Fingerprint()
			if err := s.fillServerInfo(d); err != nil {
				s.log.Error("serverInfo not complete", "error", err)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("startos: state document: %w", err)
	}
	s.db = store
	return nil
}

// Revision is the state document's current revision.
func (s *Server) Revision() uint64 { return s.db.Revision() }

// Dump returns the public document, or the part of it at pointer.
func (s *Server) Dump(_ context.Context, p model.DumpParams) (model.Dump, error) {
	return s.db.Dump(p.Pointer)
}

// Subscribe returns the value at the pointer and a feed of every revision
// after it, scoped to the pointer. With Since set and the revisions after it
// still in the log, it resumes instead: no dump, the missed revisions first.
func (s *Server) Subscribe(_ context.Context, p model.DBSubscribeParams) (model.DBSubscribeResult, *feed.Feed[model.Revision], error) {
	dump, f, err := s.db.Subscribe(p.Pointer, p.Since)
	if err != nil {
		return model.DBSubscribeResult{}, nil, err
	}
	if dump.Value == nil {
		return model.DBSubscribeResult{Resumed: true, ID: dump.ID}, f, nil
	}
	return model.DBSubscribeResult{ID: dump.ID, Dump: &dump}, f, nil
}

// PutUI sets a value under /public/ui, where frontends keep preferences.
func (s *Server) PutUI(ctx context.Context, p model.PutUIParams) (model.Empty, error) {
	_, err := s.db.PutUI(ctx, p.Pointer, p.Value)
	return model.Empty{}, err
}

// Notify raises a notification; other packages of the library use it for
// failed installs, watchdog alarms and the like.
func (s *Server) Notify(ctx context.Context, in model.NotificationInput) (uint32, error) {
	in = notification.Fit(in)
	id, err := notification.Create(ctx, s.db, in)
	if err != nil {
		s.log.Error("notification not recorded", "title", in.Title, "error", err)
	}
	s.raise(id, in)
	return id, err
}

// CreateNotification is notification.create.
func (s *Server) CreateNotification(ctx context.Context, in model.NotificationInput) (uint32, error) {
	id, err := notification.Create(ctx, s.db, in)
	if err == nil {
		s.raise(id, in)
	}
	return id, err
}

// Notifications lists notifications, newest first.
func (s *Server) Notifications(_ context.Context, p model.NotificationListParams) ([]model.Notification, error) {
	var before uint32
	limit := 0
	if p.Before != nil {
		before = *p.Before
	}
	if p.Limit != nil {
		limit = *p.Limit
	}
	return notification.List(s.db, before, limit)
}

// RemoveNotifications deletes the given notifications.
func (s *Server) RemoveNotifications(ctx context.Context, p model.NotificationIDsParams) (model.Empty, error) {
	return model.Empty{}, notification.Remove(ctx, s.db, p.IDs)
}

// RemoveNotificationsBefore deletes every notification older than the id.
func (s *Server) RemoveNotificationsBefore(ctx context.Context, p model.NotificationBeforeParams) (model.Empty, error) {
	return model.Empty{}, notification.RemoveBefore(ctx, s.db, p.Before)
}

// MarkNotificationsSeen marks the given notifications seen.
func (s *Server) MarkNotificationsSeen(ctx context.Context, p model.NotificationIDsParams) (model.Empty, error) {
	return model.Empty{}, notification.MarkSeen(ctx, s.db, p.IDs)
}

// MarkNotificationsSeenBefore marks every notification older than the id seen.
func (s *Server) MarkNotificationsSeenBefore(ctx context.Context, p model.NotificationBeforeParams) (model.Empty, error) {
	return model.Empty{}, notification.MarkSeenBefore(ctx, s.db, p.Before)
}

// MarkNotificationsUnseen marks the given notifications unseen.
func (s *Server) MarkNotificationsUnseen(ctx context.Context, p model.NotificationIDsParams) (model.Empty, error) {
	return model.Empty{}, notification.MarkUnseen(ctx, s.db, p.IDs)
}

// closeState closes the store; nil-safe for a failed Open.
func (s *Server) closeState() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

// DB is the state store, for tests and tools inside the module.
func (s *Server) DB() *db.Store { return s.db }
