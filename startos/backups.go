package startos

import (
	"context"
	"fmt"

	"github.com/startos-go/startos/startos/errdefs"

	"github.com/startos-go/startos/startos/backup"
	"github.com/startos-go/startos/startos/install"
	"github.com/startos-go/startos/startos/model"
)

func (s *Server) openBackups() error {
	var err error
	s.backups, err = backup.New(backup.Options{
		Store: s.db, Services: s.services, Installer: restoreInstaller{s.installer}, DataDir: s.cfg.DataDir,
		Logger: s.log.Named("backup"), Now: s.cfg.Now, PasswordParams: s.sessions.PasswordParams(),
		Notify: func(ctx context.Context, in model.NotificationInput) { _, _ = s.Notify(ctx, in) },
	})
	return err
}

// restoreInstaller is the installer as a restore uses it: a restore
// reinstalls the archive the box itself backed up, so its publisher pin
// applies as to any install (no key change is allowed).
type restoreInstaller struct{ *install.Installer }

func (r restoreInstaller) Sideload(ctx context.Context) (model.SideloadResult, error) {
	return r.Installer.Sideload(ctx)
}

// Backups is the backup manager, for programs embedding the library.
func (s *Server) Backups() *backup.Manager { return s.backups }

// AddBackupTarget is backup.target.add.
func (s *Server) AddBackupTarget(ctx context.Context, p model.BackupTargetAddParams) (model.BackupTargetID, error) {
	return s.backups.AddTarget(ctx, p)
}

// BackupTargets is backup.target.list.
func (s *Server) BackupTargets(ctx context.Context) ([]model.BackupTarget, error) {
	return s.backups.Targets(ctx)
}

// UpdateBackupTarget is backup.target.update.
func (s *Server) UpdateBackupTarget(ctx context.Context, p model.BackupTargetUpdateParams) (model.Empty, error) {
	return model.Empty{}, s.backups.UpdateTarget(ctx, p)
}

// RemoveBackupTarget is backup.target.remove.
func (s *Server) RemoveBackupTarget(ctx context.Context, p model.BackupTargetIDParams) (model.Empty, error) {
	return model.Empty{}, s.backups.RemoveTarget(ctx, p.TargetID)
}

// BackupTargetInfo is backup.target.info.
func (s *Server) BackupTargetInfo(ctx context.Context, p model.BackupTargetPasswordParams) (model.BackupTargetInfo, error) {
	return s.backups.TargetInfo(ctx, p)
}

// CheckBackupTarget is backup.target.check.
func (s *Server) CheckBackupTarget(ctx context.Context, p model.BackupTargetPasswordParams) (model.Empty, error) {
	return model.Empty{}, s.backups.CheckTarget(ctx, p)
}

// CreateBackup is backup.create: it starts the backup and returns.
func (s *Server) CreateBackup(ctx context.Context, p model.BackupCreateParams) (model.Empty, error) {
	return model.Empty{}, s.backups.Create(ctx, p)
}

// RestoreBackup is package.backup.restore.
func (s *Server) RestoreBackup(ctx context.Context, p model.BackupRestoreParams) (model.Empty, error) {
	return model.Empty{}, s.backups.Restore(ctx, p)
}

// SetBackupSchedule is backup.schedule.set.
func (s *Server) SetBackupSchedule(ctx context.Context, p model.BackupSchedule) (model.Empty, error) {
	return model.Empty{}, s.backups.SetSchedule(ctx, p)
}

// BackupSchedule is backup.schedule.get.
func (s *Server) BackupSchedule(ctx context.Context) (model.BackupSchedule, error) {
	return s.backups.Schedule(ctx)
}

// recoverBox is setup.execute with a backup recovery source.
func (s *Server) recoverBox(ctx context.Context, src model.RecoverySource) error {
	if src.Type != "backup" {
		return fmt.Errorf("setup: recovery source type %q: only \"backup\" is supported: %w", src.Type, errdefs.ErrInvalidRequest)
	}
	if err := s.backups.RecoverBox(ctx, src); err != nil {
		return err
	}
	if err := s.syncAuthorizedKeys(); err != nil { // the recovered owner's SSH keys
		s.log.Error("authorized_keys not written", "path", s.cfg.AuthorizedKeys, "error", err)
	}
	s.log.Info("setup complete: the box was recovered from a backup")
	return nil
}
