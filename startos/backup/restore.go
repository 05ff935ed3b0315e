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
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/internal/atomicfile"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// Restore restores packages from a target (package.backup.restore): a
// package that is not installed is reinstalled from its backed-up archive;
// then its data comes back through backup.restore (or the volumes are put
// back) and it returns to the run state it had when backed up. It returns
// when every package is done.
func (m *Manager) Restore(ctx context.Context, p model.BackupRestoreParams) error {
	if len(p.IDs) == 0 {
		return fmt.Errorf("restore: name the packages (ids): %w", errdefs.ErrInvalidRequest)
	}
	for _, id := range p.IDs {
		if err := checkArg("package id", id); err != nil || strings.ContainsAny(id, "/\\.") {
			return fmt.Errorf("restore: package id %q is not a package id: %w", id, errdefs.ErrInvalidRequest)
		}
	}
	release, err := m.acquire("restore")
	if err != nil {
		return err
	}
	defer release()
	r, cleanup, err := m.open(ctx, p.TargetID, p.Password, false)
	if err != nil {
		return err
	}
	defer cleanup()
	var snaps []Snapshot
	if p.Snapshot != "" { // a run or snapshot id: find it among the snapshots
		if snaps, err = r.Snapshots(ctx, p.Password, tagStartOS); err != nil {
			return err
		}
	}
	for _, id := range p.IDs {
		snap := Snapshot{ShortID: "latest"} // the newest, picked by restic itself
		if p.Snapshot != "" {
			if snap, err = pickSnapshot(snaps, id, p.Snapshot); err != nil {
				return err
			}
		}
		if err := m.restorePackage(ctx, r, p.Password, id, snap); err != nil {
			return fmt.Errorf("restore of %s: %w", id, err)
		}
	}
	return nil
}

// pickSnapshot is the newest snapshot of package id, or the one matching
// want (a run id or a snapshot id prefix).
func pickSnapshot(snaps []Snapshot, id, want string) (Snapshot, error) {
	var match []Snapshot
	for _, s := range snaps {
		if s.Tag("package") != id {
			continue
		}
		if want != "" && s.Tag("run") != want && !strings.HasPrefix(s.ID, want) {
			continue
		}
		match = append(match, s)
	}
	if len(match) == 0 {
		return Snapshot{}, fmt.Errorf("no backup of package %q in this target (snapshot %q): %w", id, want, errdefs.ErrNotFound)
	}
	sort.Slice(match, func(i, j int) bool { return match[i].Time.After(match[j].Time) })
	return match[0], nil
}

// restorePackage restores package id from snap, or from its newest
// snapshot when snap has no ID.
func (m *Manager) restorePackage(ctx context.Context, r *Restic, password, id string, snap Snapshot) error {
	tmp := m.path("tmp", "restore-"+id+"-"+newID())
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("restore folder: %v: %w", err, errdefs.ErrFilesystem)
	}
	defer os.RemoveAll(tmp)
	if snap.ID == "" {
		err := r.RestoreLatest(ctx, password, tmp, []string{tagStartOS, "package=" + id})
		if errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("no backup of package %q in this target: %w", id, errdefs.ErrNotFound)
		}
		if err != nil {
			return err
		}
	} else if err := r.Restore(ctx, password, snap.ID, tmp, nil); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(tmp, "backup", id, "meta.json"))
	if err != nil {
		return fmt.Errorf("snapshot %s has no backup/%s/meta.json: %w", snap.ShortID, id, errdefs.ErrRestore)
	}
	var meta PackageMeta
	if err := json.Unmarshal(b, &meta); err != nil || meta.ID != id {
		return fmt.Errorf("snapshot %s: backup/%s/meta.json is not this package's: %w", snap.ShortID, id, errdefs.ErrRestore)
	}
	_, doc := m.opts.Store.Read()
	e, installed := doc.Public.PackageData[id]
	// From here a crash is rolled back at the next start: every volume the
	// restore replaces is kept aside until it commits. The procedure form
	// gets empty volumes to fill, so a procedure cut short never leaves a
	// mix of old and restored data. A reinstalled package is uninstalled.
	j := restoreJournal{ID: id, Reinstalled: !installed}
	if meta.Form == "volumes" {
		j.Volumes = meta.Volumes
	}
	if installed {
		mf, _, err := manifest.ParseArchived(e.StateInfo.Manifest)
		if err != nil {
			return err
		}
		if mf.Version.String() != meta.Version {
			return fmt.Errorf("installed version %s differs from the backed-up %s; uninstall it first: %w", mf.Version, meta.Version, errdefs.ErrRestore)
		}
		if meta.Form == "procedure" {
			j.Volumes = sortedVolumes(mf)
		}
	}
	if err := m.writeJournal(j); err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			m.rollBack(context.WithoutCancel(ctx), j)
		}
	}()
	if !installed {
		if err := m.reinstall(ctx, filepath.Join(tmp, "packages", id+".s9pk")); err != nil {
			return err
		}
	}
	_, doc = m.opts.Store.Read()
	e, ok := doc.Public.PackageData[id]
	if !ok || len(e.StateInfo.Manifest) == 0 {
		return fmt.Errorf("package %s is not installed after reinstalling: %w", id, errdefs.ErrRestore)
	}
	mf, _, err := manifest.ParseArchived(e.StateInfo.Manifest)
	if err != nil {
		return err
	}
	if err := m.opts.Services.BeginBackup(ctx, id); err != nil {
		return err
	}
	restoreErr := m.putBack(ctx, id, mf, meta, tmp, j.Volumes)
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := m.opts.Services.EndBackup(ectx, id); err != nil && restoreErr == nil {
		restoreErr = err
	}
	if restoreErr != nil {
		return restoreErr
	}
	committed = true
	m.commitJournal(j)
	if onComplete(meta.Entry.StatusInfo.Desired) == model.DesiredRunning {
		return m.opts.Services.StartPackage(ectx, id)
	}
	return nil
}

// putBack swaps each of volumes for its restored copy (or, for the
// procedure form, an empty folder), keeping the old one as
// <volume>.pre-restore until the restore commits, then runs backup.restore
// with BACKUP mounted.
func (m *Manager) putBack(ctx context.Context, id string, mf *manifest.Manifest, meta PackageMeta, tmp string, volumes []string) error {
	for _, vol := range volumes {
		if v, ok := mf.Volumes[vol]; !ok || v.Type != manifest.VolumeData {
			continue // the volume is gone from this version
		}
		dst := m.path("volumes", id, vol)
		src := filepath.Join(tmp, "volumes", id, vol)
		if meta.Form == "procedure" {
			src = filepath.Join(tmp, "empty", vol)
		}
		if _, err := os.Stat(src); err != nil {
			if err := os.MkdirAll(src, 0o755); err != nil {
				return fmt.Errorf("volume %s: %v: %w", vol, err, errdefs.ErrFilesystem)
			}
			copyOwner(dst, src)
		}
		old := dst + ".pre-restore"
		os.RemoveAll(old)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("volume %s: %v: %w", vol, err, errdefs.ErrFilesystem)
		}
		if err := os.Rename(dst, old); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("volume %s: %v: %w", vol, err, errdefs.ErrFilesystem)
		}
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("volume %s: %v: %w", vol, err, errdefs.ErrFilesystem)
		}
	}
	if meta.Form == "procedure" {
		dir := filepath.Join(tmp, "backup", id, "BACKUP")
		if err := m.opts.Services.RunBackupProcedure(ctx, id, mf, mf.Backup.Restore, dir); err != nil {
			return fmt.Errorf("backup.restore: %v: %w", err, errdefs.ErrRestore)
		}
	}
	return nil
}

// copyOwner gives dir the mode and owner of like, when like exists: the
// empty volume a restore procedure fills is the one it replaces.
func copyOwner(like, dir string) {
	st, err := os.Stat(like)
	if err != nil {
		return
	}
	_ = os.Chmod(dir, st.Mode().Perm())
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		_ = os.Lchown(dir, int(sys.Uid), int(sys.Gid))
	}
}

// restoreJournal is <data-dir>/backup/restore-<id>.json while a restore
// changes a package: the volumes being swapped (each old one kept as
// <volume>.pre-restore until the end) and whether the package was
// reinstalled for it.
type restoreJournal struct {
	ID          string   `json:"id"`
	Reinstalled bool     `json:"reinstalled"`
	Volumes     []string `json:"volumes"`
}

func (m *Manager) journalPath(id string) string {
	return m.path("backup", "restore-"+id+".json")
}

func (m *Manager) writeJournal(j restoreJournal) error {
	if err := os.MkdirAll(m.path("backup"), 0o700); err != nil {
		return fmt.Errorf("restore journal: %v: %w", err, errdefs.ErrFilesystem)
	}
	b, _ := json.Marshal(j)
	return atomicfile.Write(m.journalPath(j.ID), b, 0o600)
}

// commitJournal ends a restore that succeeded: the journal goes first, then
// the old volumes.
func (m *Manager) commitJournal(j restoreJournal) {
	os.Remove(m.journalPath(j.ID))
	for _, vol := range j.Volumes {
		os.RemoveAll(m.path("volumes", j.ID, vol) + ".pre-restore")
	}
}

// rollBack puts the old volumes back and uninstalls a package the restore
// installed, then drops the journal.
func (m *Manager) rollBack(ctx context.Context, j restoreJournal) {
	if err := rollBackVolumes(m.opts.DataDir, j); err != nil {
		m.log.Error("restore rollback: volume not put back", "package", j.ID, "error", err)
		return
	}
	if j.Reinstalled && m.opts.Installer != nil {
		_, doc := m.opts.Store.Read()
		if _, ok := doc.Public.PackageData[j.ID]; ok {
			uctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			err := m.opts.Installer.Uninstall(uctx, j.ID, false, true)
			cancel()
			if err != nil {
				m.log.Error("restore rollback: uninstall failed", "package", j.ID, "error", err)
				return
			}
		}
	}
	os.Remove(m.journalPath(j.ID))
	m.log.Warn("restore rolled back", "package", j.ID)
}

// rollBackVolumes puts each volume kept aside back. The one it replaces is
// renamed away before it is removed: a procedure container a crash left
// running keeps writing into that one, never into the volume put back.
func rollBackVolumes(dataDir string, j restoreJournal) error {
	for _, vol := range j.Volumes {
		dst := filepath.Join(dataDir, "volumes", j.ID, vol)
		old := dst + ".pre-restore"
		if _, err := os.Stat(old); err != nil {
			continue // this volume was not swapped yet, or is back already
		}
		discard := dst + ".restore-discard"
		os.RemoveAll(discard)
		if err := os.Rename(dst, discard); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("volume %s: %v", vol, err)
		}
		if err := os.Rename(old, dst); err != nil {
			return fmt.Errorf("volume %s: %v", vol, err)
		}
		os.RemoveAll(discard)
	}
	return nil
}

// readJournals reads the journals of the restores a crash cut short,
// removing unreadable ones.
func readJournals(dataDir string, log hclog.Logger) []restoreJournal {
	paths, _ := filepath.Glob(filepath.Join(dataDir, "backup", "restore-*.json"))
	var out []restoreJournal
	for _, p := range paths {
		b, err := os.ReadFile(p)
		var j restoreJournal
		if err != nil || json.Unmarshal(b, &j) != nil || j.ID == "" || filepath.Base(p) != "restore-"+j.ID+".json" {
			log.Error("restore journal unreadable; removed", "path", p)
			os.Remove(p)
			continue
		}
		out = append(out, j)
	}
	return out
}

// RollBackVolumes puts back the volumes of restores a crash cut short. The
// daemon calls it before the services start, so no container mounts a
// half-restored volume; New finishes those rollbacks (a package a restore
// reinstalled is uninstalled) once the installer is up.
func RollBackVolumes(dataDir string, log hclog.Logger) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	for _, j := range readJournals(dataDir, log) {
		if err := rollBackVolumes(dataDir, j); err != nil {
			log.Error("restore rollback: volume not put back", "package", j.ID, "error", err)
		}
	}
}

// rollBackRestores undoes the restores a crash cut short.
func (m *Manager) rollBackRestores(ctx context.Context) {
	for _, j := range readJournals(m.opts.DataDir, m.log) {
		m.rollBack(ctx, j)
	}
}

// removeLeftovers removes what a crash left of backups and restores that
// holds no state: staging and restore folders, volumes replaced by a
// restore that committed, volumes a rollback discarded.
func (m *Manager) removeLeftovers() {
	var gone []string
	for _, pattern := range []string{"tmp/restore-*", "tmp/recover-*", "volumes/*/*.restore-discard"} {
		found, _ := filepath.Glob(m.path(pattern))
		gone = append(gone, found...)
	}
	if entries, err := os.ReadDir(m.path("backup")); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				gone = append(gone, m.path("backup", e.Name()))
			}
		}
	}
	kept, _ := filepath.Glob(m.path("volumes", "*", "*.pre-restore"))
	for _, old := range kept {
		id := filepath.Base(filepath.Dir(old))
		if _, err := os.Stat(m.journalPath(id)); os.IsNotExist(err) {
			gone = append(gone, old) // its restore committed
		}
	}
	for _, p := range gone {
		if err := os.RemoveAll(p); err != nil {
			m.log.Warn("leftover of a backup or restore not removed", "path", p, "error", err)
		}
	}
}

// reinstall installs the backed-up archive through the sideload path.
func (m *Manager) reinstall(ctx context.Context, archive string) error {
	if m.opts.Installer == nil {
		return fmt.Errorf("reinstall: no installer: %w", errdefs.ErrUnavailable)
	}
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("the snapshot holds no package archive: %v: %w", err, errdefs.ErrRestore)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	up, err := m.opts.Installer.Sideload(ctx)
	if err != nil {
		return err
	}
	return m.opts.Installer.Receive(ctx, up.Upload, f, st.Size())
}
