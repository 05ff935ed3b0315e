package backup

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// SetSchedule sets (or with frequency "off" clears) the backup schedule.
// Setting it checks the password and adds a random key to the target's
// repository (restic key add) that the schedule runs with, so the owner's
// password is never kept.
func (m *Manager) SetSchedule(ctx context.Context, s model.BackupSchedule) error {
	if s.Frequency == "off" || s.Frequency == "" {
		_, err := m.opts.Store.Mutate(ctx, func(d *model.Document) error {
			d.Private.BackupSchedule = nil
			return nil
		})
		return err
	}
	if _, err := nextRun(s, m.opts.Now()); err != nil {
		return err
	}
	if _, err := m.packagesToBackUp(s.PackageIDs); err != nil {
		return err
	}
	if s.Retention.KeepDaily < 0 || s.Retention.KeepWeekly < 0 || s.Retention.KeepMonthly < 0 {
		return fmt.Errorf("retention: counts cannot be negative: %w", errdefs.ErrInvalidRequest)
	}
	r, cleanup, err := m.open(ctx, s.TargetID, s.Password, true)
	if err != nil {
		return err
	}
	defer cleanup()
	b := make([]byte, 32)
	rand.Read(b)
	key := base64.RawURLEncoding.EncodeToString(b)
	if err := r.AddKey(ctx, s.Password, key); err != nil {
		return err
	}
	s.Password, s.NextRun = "", nil
	_, err = m.opts.Store.Mutate(ctx, func(d *model.Document) error {
		d.Private.BackupSchedule = &model.BackupSchedulePrivate{Schedule: s, Key: key}
		return nil
	})
	return err
}

// Schedule is the current schedule (backup.schedule.get), with its next run.
func (m *Manager) Schedule(context.Context) (model.BackupSchedule, error) {
	_, doc := m.opts.Store.Read()
	if doc.Private.BackupSchedule == nil {
		return model.BackupSchedule{Frequency: "off"}, nil
	}
	s := doc.Private.BackupSchedule.Schedule
	after := m.opts.Now()
	if last := doc.Private.BackupSchedule.LastRun; last != nil && last.After(after) {
		after = *last
	}
	if next, err := nextRun(s, after); err == nil {
		s.NextRun = &next
	}
	return s, nil
}

// nextRun is the first time the schedule fires after t.
func nextRun(s model.BackupSchedule, t time.Time) (time.Time, error) {
	hm, err := time.Parse("15:04", s.Time)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule time %q: want HH:MM: %w", s.Time, errdefs.ErrInvalidRequest)
	}
	at := time.Date(t.Year(), t.Month(), t.Day(), hm.Hour(), hm.Minute(), 0, 0, t.Location())
	switch s.Frequency {
	case "daily":
		if !at.After(t) {
			at = at.AddDate(0, 0, 1)
		}
	case "weekly":
		if s.Weekday < 0 || s.Weekday > 6 {
			return time.Time{}, fmt.Errorf("schedule weekday %d: want 0 (Sunday) to 6: %w", s.Weekday, errdefs.ErrInvalidRequest)
		}
		for at.Weekday() != time.Weekday(s.Weekday) || !at.After(t) {
			at = at.AddDate(0, 0, 1)
		}
	default:
		return time.Time{}, fmt.Errorf("schedule frequency %q: want off, daily or weekly: %w", s.Frequency, errdefs.ErrInvalidRequest)
	}
	return at, nil
}

// scheduler runs the scheduled backup when it is due.
func (m *Manager) scheduler() {
	defer m.wg.Done()
	t := time.NewTicker(m.opts.ScheduleInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
			m.CheckSchedule()
		}
	}
}

// CheckSchedule starts the scheduled backup when it is due (since the last
// run or the last interval); the scheduler calls it every interval.
func (m *Manager) CheckSchedule() {
	_, doc := m.opts.Store.Read()
	sp := doc.Private.BackupSchedule
	if sp == nil {
		return
	}
	now := m.opts.Now()
	from := now.Add(-m.opts.ScheduleInterval)
	if sp.LastRun != nil && sp.LastRun.After(from) {
		from = *sp.LastRun
	}
	next, err := nextRun(sp.Schedule, from)
	if err != nil || next.After(now) {
		return
	}
	ctx, cancel := context.WithTimeout(m.ctx, time.Minute)
	defer cancel()
	m.record(ctx, func(d *model.Document) error {
		if d.Private.BackupSchedule != nil {
			d.Private.BackupSchedule.LastRun = &now
		}
		return nil
	})
	err = m.create(ctx, model.BackupCreateParams{TargetID: sp.Schedule.TargetID, Password: sp.Key, PackageIDs: sp.Schedule.PackageIDs}, sp.Schedule.Retention, true)
	if err != nil {
		m.log.Error("scheduled backup did not start", "error", err)
		m.opts.Notify(ctx, model.NotificationInput{Level: model.NotificationError, Title: "Scheduled backup failed",
			Message: err.Error(), Code: model.NotificationCodeBackupReport})
	}
}
