package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/startos-go/startos/internal/atomicfile"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// PackageMeta is backup/<id>/meta.json in a package snapshot.
type PackageMeta struct {
	ID      string                 `json:"id"`
	Version string                 `json:"version"`
	Form    string                 `json:"form"` // "volumes" (compat) or "procedure"
	Volumes []string               `json:"volumes"`
	Entry   model.PackageDataEntry `json:"entry"`
	Time    time.Time              `json:"time"`
}

// BoxMeta is backup/box/box.json in a box snapshot: what a fresh box needs
// to become this one again.
type BoxMeta struct {
	Version       string                        `json:"version"`
	Name          string                        `json:"name"`
	Hostname      string                        `json:"hostname"`
	PasswordHash  string                        `json:"passwordHash"`
	DeveloperKey  string                        `json:"developerKey,omitempty"`
	SSHKeys       map[string]model.StoredSSHKey `json:"sshKeys,omitempty"`
	Notifications map[uint32]model.Notification `json:"notifications"`
	Packages      map[string]string             `json:"packages"` // id -> desired (running/stopped)
	Time          time.Time                     `json:"time"`
}

// Create starts a backup of packageIDs (all installed when empty) and the
// box to a target in the background (backup.create). It checks the target
// and password first: a wrong one is ErrIncorrectPassword with nothing
// changed.
func (m *Manager) Create(ctx context.Context, p model.BackupCreateParams) error {
	return m.create(ctx, p, model.BackupRetention{}, false)
}

func (m *Manager) create(ctx context.Context, p model.BackupCreateParams, keep model.BackupRetention, scheduled bool) error {
	ids, err := m.packagesToBackUp(p.PackageIDs)
	if err != nil {
		return err
	}
	release, err := m.acquire("backup")
	if err != nil {
		return err
	}
	r, cleanup, err := m.openAs(ctx, p.TargetID, p.Password, true, scheduled)
	if err != nil {
		release()
		return err
	}
	progress := map[string]model.BackupProgress{}
	for _, id := range ids {
		progress[id] = model.BackupProgress{}
	}
	if _, err := m.opts.Store.Mutate(ctx, func(d *model.Document) error {
		d.Public.ServerInfo.StatusInfo.BackupProgress = progress
		return nil
	}); err != nil {
		cleanup()
		release()
		return err
	}
	done := make(chan struct{})
	m.mu.Lock()
	m.runDone = done
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(done)
		defer release()
		defer cleanup()
		m.run(m.ctx, r, p.TargetID, p.Password, ids, keep, release)
	}()
	return nil
}

// Wait blocks until the running backup (if any) ends or ctx is done.
func (m *Manager) Wait(ctx context.Context) error {
	m.mu.Lock()
	done := m.runDone
	m.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) packagesToBackUp(want []string) ([]string, error) {
	_, doc := m.opts.Store.Read()
	if len(want) == 0 {
		for id, e := range doc.Public.PackageData {
			if e.StateInfo.State == model.PackageInstalled {
				want = append(want, id)
			}
		}
		sort.Strings(want)
		return want, nil
	}
	seen := map[string]bool{}
	var out []string
	for _, id := range want {
		e, ok := doc.Public.PackageData[id]
		if !ok || e.StateInfo.State != model.PackageInstalled {
			return nil, fmt.Errorf("package %q is not installed: %w", id, errdefs.ErrNotFound)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// run backs each package and the box up, and reports.
func (m *Manager) run(ctx context.Context, r *Restic, targetID, password string, ids []string, keep model.BackupRetention, release func()) {
	runID := newID()
	started := m.opts.Now()
	// The box's snapshot is made beside the packages': it is small, and
	// most of its cost is restic opening the repository (deriving the key),
	// which then overlaps the first package's stop and backup. restic
	// allows backups side by side in one repository.
	boxDone := make(chan error, 1)
	go func() { boxDone <- m.backupBox(ctx, r, password, runID) }()
	var failed []string
	for _, id := range ids {
		err := m.backupPackage(ctx, r, password, runID, id)
		now := m.opts.Now().UTC()
		m.record(context.WithoutCancel(ctx), func(d *model.Document) error {
			pr := d.Public.ServerInfo.StatusInfo.BackupProgress
			if pr == nil {
				pr = map[string]model.BackupProgress{}
			}
			cur := pr[id]
			cur.Complete = true
			if err != nil {
				cur.Error = err.Error()
			} else if e, ok := d.Public.PackageData[id]; ok {
				e.LastBackup = &now
				d.Public.PackageData[id] = e
			}
			pr[id] = cur
			d.Public.ServerInfo.StatusInfo.BackupProgress = pr
			return nil
		})
		if err != nil {
			m.log.Error("package backup failed", "package", id, "error", err)
			failed = append(failed, fmt.Sprintf("%s: %v", id, err))
		}
	}
	boxErr := <-boxDone
	if boxErr != nil {
		failed = append(failed, "box: "+boxErr.Error())
	}
	if len(failed) == 0 && (keep != model.BackupRetention{}) {
		if err := r.Forget(ctx, password, keep, tagStartOS); err != nil {
			failed = append(failed, "retention: "+err.Error())
		}
	}
	report, _ := json.Marshal(map[string]any{"run": runID, "packages": ids, "failed": failed, "seconds": m.opts.Now().Sub(started).Seconds()})
	in := model.NotificationInput{Level: model.NotificationSuccess, Title: "Backup complete", Code: model.NotificationCodeBackupReport, Data: report,
		Message: fmt.Sprintf("%d package(s) and the box backed up (run %s).", len(ids), runID)}
	if len(failed) > 0 {
		in.Level, in.Title = model.NotificationError, "Backup failed"
		in.Message = strings.Join(failed, "; ")
	}
	// The report first: whoever sees the progress cleared finds it too.
	m.opts.Notify(context.WithoutCancel(ctx), in)
	now := m.opts.Now().UTC()
	m.record(context.WithoutCancel(ctx), func(d *model.Document) error {
		// Free in the same step that clears the progress: whoever sees
		// no backup running can start one.
		release()
		d.Public.ServerInfo.StatusInfo.BackupProgress = nil
		if boxErr == nil {
			d.Public.ServerInfo.LastBackup = &now
			if t, ok := d.Private.BackupTargets[targetID]; ok {
				t.LastBackup = &now
				d.Private.BackupTargets[targetID] = t
			}
		}
		return nil
	})
}

// backupPackage stops the service, stages its metadata (and for the
// procedure form runs backup.create into a BACKUP folder), snapshots it
// with restic and returns the service to its desired state.
func (m *Manager) backupPackage(ctx context.Context, r *Restic, password, runID, id string) (err error) {
	_, doc := m.opts.Store.Read()
	e, ok := doc.Public.PackageData[id]
	if !ok || len(e.StateInfo.Manifest) == 0 {
		return fmt.Errorf("package %q is not installed: %w", id, errdefs.ErrNotFound)
	}
	mf, _, err := manifest.ParseArchived(e.StateInfo.Manifest)
	if err != nil {
		return err
	}
	stage := m.path("backup", id)
	if err := os.RemoveAll(stage); err != nil {
		return fmt.Errorf("backup stage: %v: %w", err, errdefs.ErrFilesystem)
	}
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return fmt.Errorf("backup stage: %v: %w", err, errdefs.ErrFilesystem)
	}
	defer os.RemoveAll(stage)

	meta := PackageMeta{ID: id, Version: mf.Version.String(), Form: formOf(mf), Entry: e, Time: m.opts.Now().UTC()}
	meta.Entry.StatusInfo.Health, meta.Entry.StatusInfo.Started, meta.Entry.StatusInfo.Error = nil, nil, nil
	paths := []string{filepath.Join("backup", id), filepath.Join("packages", id+".s9pk")}
	if meta.Form == "volumes" {
		for _, vol := range sortedVolumes(mf) {
			meta.Volumes = append(meta.Volumes, vol)
			dir := filepath.Join("volumes", id, vol)
			if err := os.MkdirAll(m.path(dir), 0o755); err != nil {
				return fmt.Errorf("volume %s: %v: %w", vol, err, errdefs.ErrFilesystem)
			}
			paths = append(paths, dir)
		}
	}
	b, _ := json.MarshalIndent(meta, "", "  ")
	if err := atomicfile.Write(filepath.Join(stage, "meta.json"), b, 0o600); err != nil {
		return err
	}

	if err := m.opts.Services.BeginBackup(ctx, id); err != nil {
		return err
	}
	defer func() {
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if endErr := m.opts.Services.EndBackup(ectx, id); endErr != nil && err == nil {
			err = endErr
		}
	}()
	if meta.Form == "procedure" {
		dir := filepath.Join(stage, "BACKUP")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("backup folder: %v: %w", err, errdefs.ErrFilesystem)
		}
		if err := m.opts.Services.RunBackupProcedure(ctx, id, mf, mf.Backup.Create, dir); err != nil {
			return fmt.Errorf("backup.create of %s: %v: %w", id, err, errdefs.ErrBackup)
		}
	}
	var last time.Time
	var mu sync.Mutex
	_, err = r.Backup(ctx, password, m.opts.DataDir, paths,
		[]string{tagStartOS, "package=" + id, "version=" + meta.Version, "run=" + runID},
		func(msg Message) {
			mu.Lock()
			defer mu.Unlock()
			if time.Since(last) < time.Second {
				return
			}
			last = time.Now()
			m.record(ctx, func(d *model.Document) error {
				if pr := d.Public.ServerInfo.StatusInfo.BackupProgress; pr != nil {
					pr[id] = model.BackupProgress{BytesDone: msg.BytesDone, BytesTotal: msg.TotalBytes}
				}
				return nil
			})
		})
	return err
}

// formOf says how a package is backed up: the daemon copies the volumes
// for the compat duplicity form (or no procedure), else the manifest's
// docker procedure writes into BACKUP.
func formOf(mf *manifest.Manifest) string {
	if mf.Backup.Create.Native == manifest.NativeBackupCreate || mf.Backup.Create.Type == "" {
		return "volumes"
	}
	return "procedure"
}

func sortedVolumes(mf *manifest.Manifest) []string {
	var out []string
	for id, v := range mf.Volumes {
		if v.Type == manifest.VolumeData {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// backupBox snapshots the box's own state.
func (m *Manager) backupBox(ctx context.Context, r *Restic, password, runID string) error {
	_, doc := m.opts.Store.Read()
	meta := BoxMeta{
		Version: doc.Public.ServerInfo.Version, Name: doc.Public.ServerInfo.Name, Hostname: doc.Public.ServerInfo.Hostname,
		PasswordHash: doc.Private.PasswordHash, DeveloperKey: doc.Private.DeveloperKey, SSHKeys: doc.Private.SSHKeys,
		Notifications: doc.Private.Notifications, Packages: map[string]string{}, Time: m.opts.Now().UTC(),
	}
	for id, e := range doc.Public.PackageData {
		if e.StateInfo.State == model.PackageInstalled {
			meta.Packages[id] = onComplete(e.StatusInfo.Desired)
		}
	}
	stage := m.path("backup", boxStage)
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return fmt.Errorf("backup stage: %v: %w", err, errdefs.ErrFilesystem)
	}
	defer os.RemoveAll(stage)
	b, _ := json.MarshalIndent(meta, "", "  ")
	if err := atomicfile.Write(filepath.Join(stage, "box.json"), b, 0o600); err != nil {
		return err
	}
	_, err := r.Backup(ctx, password, m.opts.DataDir, []string{filepath.Join("backup", boxStage)}, []string{tagStartOS, tagBox, "run=" + runID}, nil)
	if err != nil && errors.Is(err, context.Canceled) {
		return fmt.Errorf("box backup: %w", errdefs.ErrCancelled)
	}
	return err
}

// onComplete is the run state a package returns to: running or stopped.
func onComplete(d model.DesiredStatus) string {
	switch d.Main {
	case model.DesiredRunning, model.DesiredRestarting:
		return model.DesiredRunning
	case model.DesiredBackingUp:
		if d.OnComplete == "start" {
			return model.DesiredRunning
		}
	}
	return model.DesiredStopped
}

// boxStage is the box's folder under backup/; "_" keeps it apart from
// package ids.
const boxStage = "_box"
