package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// BeginBackup sets package id's desired state to backing-up (remembering
// whether to start or stop after) and waits until its main container is
// down. A crash before EndBackup is resolved at boot (desiredOnBoot).
func (m *Manager) BeginBackup(ctx context.Context, id string) error {
	if _, _, err := m.installed(id); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := m.setDesired(ctx, id, func(d model.DesiredStatus, _ bool) model.DesiredStatus { return desiredOnBackup(d) }); err != nil {
		return err
	}
	tick := time.NewTicker(25 * time.Millisecond) // the backup waits on this
	defer tick.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := m.engine.InspectContainer(cctx, ContainerName(id))
		cancel()
		if errors.Is(err, errdefs.ErrNotFound) || (err == nil && !st.Running) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("backup of %s: waiting for it to stop: %w", id, ctx.Err())
		case <-tick.C:
		}
	}
}

// EndBackup returns package id to the state it was in before BeginBackup.
func (m *Manager) EndBackup(ctx context.Context, id string) error {
	return m.setDesired(ctx, id, func(d model.DesiredStatus, _ bool) model.DesiredStatus {
		if d.Main != model.DesiredBackingUp {
			return d
		}
		return desiredOnBoot(d)
	})
}

// RunBackupProcedure runs a backup create or restore procedure of package
// id with backupDir mounted as the BACKUP volume.
func (m *Manager) RunBackupProcedure(ctx context.Context, id string, mf *manifest.Manifest, p manifest.Procedure, backupDir string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.opts.ProcedureTimeout)
		defer cancel()
	}
	res, err := m.runProcedureWith(ctx, id, mf, p, nil, time.Until(deadline(ctx)), backupDir)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return &ProcedureError{Package: id, ExitCode: res.ExitCode, Stderr: lastLines(res.Stderr, 20)}
	}
	return nil
}
