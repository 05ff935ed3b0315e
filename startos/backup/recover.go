package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// RecoverBox turns a box without an owner into the one backed up in a
// target (setup.execute with a backup recovery source): the target is
// added, the packages of the chosen run are restored, and last the owner's
// password hash, name, hostname, developer key, SSH keys and notifications are put
// back, so an interrupted recovery leaves setup open.
func (m *Manager) RecoverBox(ctx context.Context, src model.RecoverySource) error {
	if _, doc := m.opts.Store.Read(); doc.Private.PasswordHash != "" {
		return fmt.Errorf("setup: the box already has an owner: %w", errdefs.ErrDuplicate)
	}
	if src.Target.Name == "" {
		src.Target.Name = "recovery"
	}
	targetID := ""
	_, doc := m.opts.Store.Read()
	for id, t := range doc.Private.BackupTargets {
		if t.URL == src.Target.URL {
			targetID = id
		}
	}
	if targetID == "" {
		t, err := m.AddTarget(ctx, src.Target)
		if err != nil {
			return err
		}
		targetID = t.ID
	}
	release, err := m.acquire("restore")
	if err != nil {
		return err
	}
	defer release()
	r, cleanup, err := m.open(ctx, targetID, src.Password, false)
	if err != nil {
		return err
	}
	defer cleanup()
	snaps, err := r.Snapshots(ctx, src.Password, tagStartOS)
	if err != nil {
		return err
	}
	var boxSnap *Snapshot
	for i := range snaps {
		s := snaps[i]
		if !hasTag(s, tagBox) || (src.Snapshot != "" && s.Tag("run") != src.Snapshot) {
			continue
		}
		if boxSnap == nil || s.Time.After(boxSnap.Time) {
			boxSnap = &s
		}
	}
	if boxSnap == nil {
		return fmt.Errorf("no box backup in this target (run %q): %w", src.Snapshot, errdefs.ErrNotFound)
	}
	tmp := m.path("tmp", "recover-"+newID())
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("recover: %v: %w", err, errdefs.ErrFilesystem)
	}
	defer os.RemoveAll(tmp)
	if err := r.Restore(ctx, src.Password, boxSnap.ID, tmp, nil); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(tmp, "backup", boxStage, "box.json"))
	if err != nil {
		return fmt.Errorf("box snapshot %s has no box.json: %w", boxSnap.ShortID, errdefs.ErrRestore)
	}
	var meta BoxMeta
	if err := json.Unmarshal(b, &meta); err != nil || meta.PasswordHash == "" {
		return fmt.Errorf("box snapshot %s: box.json is unreadable or has no owner: %w", boxSnap.ShortID, errdefs.ErrRestore)
	}
	run := boxSnap.Tag("run")
	ids := make([]string, 0, len(meta.Packages))
	for id := range meta.Packages {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		snap, err := pickSnapshot(snaps, id, run)
		if err != nil {
			return err
		}
		if err := m.restorePackage(ctx, r, src.Password, id, snap); err != nil {
			return fmt.Errorf("recover package %s: %w", id, err)
		}
	}
	_, err = m.opts.Store.Mutate(ctx, func(d *model.Document) error {
		if d.Private.PasswordHash != "" {
			return fmt.Errorf("setup: the box got an owner during recovery: %w", errdefs.ErrDuplicate)
		}
		d.Private.PasswordHash = meta.PasswordHash
		if meta.Name != "" {
			d.Public.ServerInfo.Name = meta.Name
		}
		if meta.Hostname != "" {
			d.Public.ServerInfo.Hostname = meta.Hostname
		}
		if meta.DeveloperKey != "" && d.Private.DeveloperKey == "" {
			d.Private.DeveloperKey = meta.DeveloperKey
		}
		for fp, k := range meta.SSHKeys {
			if d.Private.SSHKeys == nil {
				d.Private.SSHKeys = map[string]model.StoredSSHKey{}
			}
			if _, taken := d.Private.SSHKeys[fp]; !taken {
				d.Private.SSHKeys[fp] = k
			}
		}
		if d.Private.Notifications == nil {
			d.Private.Notifications = map[uint32]model.Notification{}
		}
		for id, n := range meta.Notifications {
			if _, taken := d.Private.Notifications[id]; !taken {
				d.Private.Notifications[id] = n
			}
			if id > d.Private.NotificationSeq {
				d.Private.NotificationSeq = id
			}
		}
		var unread uint64
		for _, n := range d.Private.Notifications {
			if !n.Seen {
				unread++
			}
		}
		d.Public.ServerInfo.UnreadNotificationCount = unread
		return nil
	})
	return err
}
