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
	syncDir(dir)
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
	syncDir(in.packagesDir())
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
	ok := true
	if jr.Snapshot {
		snap := filepath.Join(dir, "volumes")
		if _, err := os.Stat(snap); err == nil {
			root := filepath.Join(in.dataDir, "volumes", id)
			err := os.RemoveAll(root)
			if err == nil {
				err = os.Rename(snap, root)
			}
			if err != nil {
				ok = false
				in.log.Error("restoring the volumes of a failed update", "package", id, "error", err)
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
	_, err := in.store.Mutate(ctx, func(d *model.Document) error {
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
		in.log.Error("restoring the entry of a failed update", "package", id, "error", err)
		return
	}
	if live && jr.Released {
		if err := in.services.Adopt(ctx, id); err != nil {
			in.log.Error("restarting the old version after a failed update", "package", id, "error", err)
		}
	}
	if ok {
		os.RemoveAll(dir)
		jr.remove()
	}
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
