package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// migrate stops the old version, snapshots its volumes, prepares the new
// version's volumes, runs the new manifest's migration from the old version
// and swaps the archives. Everything it does is undone by undoUpdate.
func (o *op) migrate(ctx context.Context) error {
	in, id := o.in, o.id
	o.tr.start(PhaseInstalling)
	o.jr.Released = true
	if err := o.jr.save(); err != nil {
		return err
	}
	if err := in.services.Release(ctx, id); err != nil {
		return fmt.Errorf("stopping %s %s: %w", id, o.old.Version, err)
	}
	if err := cause(ctx); err != nil {
		return err
	}

	root := filepath.Join(in.dataDir, "volumes", id)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("volume folder %s: %v: %w", root, err, errdefs.ErrFilesystem)
	}
	dir := in.updateDir(id)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing %s: %v: %w", dir, err, errdefs.ErrFilesystem)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %v: %w", dir, err, errdefs.ErrFilesystem)
	}
	if err := copyTree(ctx, root, filepath.Join(dir, "volumes")); err != nil {
		return fmt.Errorf("snapshotting the volumes of %s: %w", id, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("snapshotting the volumes of %s: syncing %s: %v: %w", id, dir, err, errdefs.ErrFilesystem)
	}
	o.jr.Snapshot = true
	if err := o.jr.save(); err != nil {
		return err
	}

	if err := o.createVolumes(ctx); err != nil {
		return err
	}
	if p, from := migrationFrom(o.m, o.old.Version); p != nil {
		in.log.Info("running migration", "package", id, "from", o.old.Version.String(), "to", o.m.Version.String(), "range", from)
		if _, err := in.services.RunProcedure(ctx, id, o.m, *p, o.old.Version.String()); err != nil {
			if c := cause(ctx); c != nil {
				return asCancelled(c)
			}
			return fmt.Errorf("migration of %s from %s (migrations.from %q) failed: %w: %w", id, o.old.Version, from, err, errdefs.ErrUpdateFailed)
		}
	}
	if err := cause(ctx); err != nil {
		return err
	}

	o.jr.Swapped = true
	if err := o.jr.save(); err != nil {
		return err
	}
	if err := os.Rename(in.archivePath(id), filepath.Join(dir, "old.s9pk")); err != nil {
		return fmt.Errorf("setting the old archive aside: %v: %w", err, errdefs.ErrFilesystem)
	}
	if err := os.Rename(o.src, in.archivePath(id)); err != nil {
		return fmt.Errorf("archiving the new version: %v: %w", err, errdefs.ErrFilesystem)
	}
	if err := syncDir(in.packagesDir()); err != nil {
		return fmt.Errorf("archiving the new version: syncing %s: %v: %w", in.packagesDir(), err, errdefs.ErrFilesystem)
	}
	o.src = in.archivePath(id)
	o.jr.Upload = ""
	return o.jr.save()
}

// migrationFrom returns the new manifest's migrations.from procedure whose
// range holds the old version, and its key.
func migrationFrom(m *manifest.Manifest, old manifest.Version) (*manifest.Procedure, string) {
	for _, k := range sortedKeys(m.Migrations.From) {
		r, err := manifest.ParseVersionRange(k)
		if err != nil || m.Migrations.From[k] == nil {
			continue
		}
		if r.Satisfies(old) {
			return m.Migrations.From[k], k
		}
	}
	return nil, ""
}

// undoUpdate puts the old version back: its volumes from the snapshot, its
// archive, its manifest in the document, and (live) its service. The new
// version's images are removed.
func (in *Installer) undoUpdate(ctx context.Context, jr *journal, live bool) {
	if jr.path == "" {
		os.Remove(jr.Upload)
		return
	}
	id := jr.ID
	dir := in.updateDir(id)
	// ok stays true only if every file step of the undo succeeded; the
	// update folder (with the snapshot) and the journal are removed only
	// then, so a failed restore is retried by the next start.
	ok := true
	if jr.Snapshot {
		snap := filepath.Join(dir, "volumes")
		if _, err := os.Stat(snap); err == nil {
			if err := in.restoreSnapshot(snap, filepath.Join(in.dataDir, "volumes", id)); err != nil {
				ok = false
				in.log.Error("restoring the volumes of a failed update; the snapshot is kept for the next try", "package", id, "snapshot", snap, "error", err)
			}
		}
	}
	if jr.Swapped {
		oldArchive := filepath.Join(dir, "old.s9pk")
		if _, err := os.Stat(oldArchive); err == nil {
			if err := os.Rename(oldArchive, in.archivePath(id)); err != nil {
				ok = false
				in.log.Error("restoring the archive of a failed update", "package", id, "error", err)
			}
		}
	}
	if jr.Upload != "" {
		os.Remove(jr.Upload)
	}
	for _, tag := range jr.LoadedImages {
		if err := in.engine.Remove(ctx, tag, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			in.log.Warn("removing the image of a failed update", "image", tag, "error", err)
		}
	}
	err := in.mutateRetry(ctx, "restoring the entry of a failed update", func(d *model.Document) error {
		e, exists := d.Public.PackageData[id]
		if !exists {
			return nil
		}
		e.StateInfo = model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(jr.OldManifest)}
		e.S9pk = in.archivePath(id)
		d.Public.PackageData[id] = e
		return nil
	})
	if err != nil {
		in.log.Error("restoring the entry of a failed update; the next start retries", "package", id, "error", err)
		return
	}
	if live && jr.Released {
		if err := in.services.Adopt(ctx, id); err != nil {
			in.log.Error("restarting the old version after a failed update", "package", id, "error", err)
		}
	}
	if ok {
		if err := os.RemoveAll(dir); err != nil {
			in.log.Warn("removing the folder of a rolled back update", "path", dir, "error", err)
		}
		jr.remove()
	}
}

// restoreSnapshot puts the volume snapshot snap back as root: the current
// root is set aside (beside the snapshot) first and dropped only once the
// snapshot is in place, so no failure leaves neither.
func (in *Installer) restoreSnapshot(snap, root string) error {
	aside := filepath.Join(filepath.Dir(snap), "replaced")
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("clearing %s: %w", aside, err)
	}
	if err := in.rename(root, aside); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("setting the current volumes aside: %w", err)
	}
	if err := in.rename(snap, root); err != nil {
		// Put the current volumes back where they were; the snapshot stays.
		if rerr := in.rename(aside, root); rerr != nil && !os.IsNotExist(rerr) {
			in.log.Error("putting the volumes back after a failed restore", "path", aside, "error", rerr)
		}
		return fmt.Errorf("moving the snapshot into place: %w", err)
	}
	if err := syncDir(filepath.Dir(root)); err != nil {
		return fmt.Errorf("syncing %s: %w", filepath.Dir(root), err)
	}
	if err := os.RemoveAll(aside); err != nil {
		in.log.Warn("removing the volumes of a rolled back update", "path", aside, "error", err)
	}
	return nil
}

// finishUpdate removes what the old version left: its images and the
// update folder.
func (in *Installer) finishUpdate(ctx context.Context, jr *journal) {
	if old, _, err := manifest.ParseArchived(jr.OldManifest); err == nil {
		for _, img := range old.ImageIDs() {
			tag := manifest.DockerTag(jr.ID, img, old.Version)
			if err := in.engine.Remove(ctx, tag, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				in.log.Warn("removing the old version's image", "image", tag, "error", err)
			}
		}
	}
	os.RemoveAll(in.updateDir(jr.ID))
}
