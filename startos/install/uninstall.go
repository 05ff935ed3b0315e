package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// Uninstall removes package id (package.uninstall): its container and
// network, images, archive and, unless soft, its volumes; then its entry.
// A package other installed packages require is refused unless force.
// It returns when the package is gone.
func (in *Installer) Uninstall(ctx context.Context, id string, soft, force bool) error {
	if !manifest.ValidID(id) {
		return fmt.Errorf("package id %q is not a valid id: %w", id, errdefs.ErrInvalidRequest)
	}
	j, jctx, err := in.begin(ctx, id, nil)
	if err != nil {
		return err
	}
	defer in.end(id, j)
	// Uninstalling is not cancelled half way by its caller going away.
	jctx = context.WithoutCancel(jctx)

	_, doc := in.store.Read()
	e, ok := doc.Public.PackageData[id]
	if !ok {
		return fmt.Errorf("package %s is not installed: %w", id, errdefs.ErrNotFound)
	}
	if e.StateInfo.State != model.PackageInstalled {
		return fmt.Errorf("package %s is %s; cancel or wait for that first: %w", id, e.StateInfo.State, errdefs.ErrInvalidRequest)
	}
	if deps := dependents(doc, id); len(deps) > 0 {
		if !force {
			return fmt.Errorf("package %s is required by %s (uninstall with force to remove it anyway): %w",
				id, strings.Join(deps, ", "), errdefs.ErrDependency)
		}
		in.log.Warn("uninstalling a package others require", "package", id, "required-by", strings.Join(deps, ", "))
	}
	jr := &journal{ID: id, Kind: kindUninstall, OldManifest: e.StateInfo.Manifest, Soft: soft, path: in.journalPath(id)}
	if err := jr.save(); err != nil {
		return err
	}
	_, err = in.store.Mutate(jctx, func(d *model.Document) error {
		e, ok := d.Public.PackageData[id]
		if !ok {
			return fmt.Errorf("package %s is not installed: %w", id, errdefs.ErrNotFound)
		}
		e.StateInfo.State = model.PackageRemoving
		e.StateInfo.InstallingInfo = nil
		d.Public.PackageData[id] = e
		return nil
	})
	if err != nil {
		jr.remove()
		return err
	}
	if err := in.services.Release(jctx, id); err != nil {
		if !force {
			in.store.Mutate(jctx, func(d *model.Document) error {
				if e, ok := d.Public.PackageData[id]; ok && e.StateInfo.State == model.PackageRemoving {
					e.StateInfo.State = model.PackageInstalled
					d.Public.PackageData[id] = e
				}
				return nil
			})
			jr.remove()
			return fmt.Errorf("stopping %s (uninstall with force to remove it anyway): %w", id, err)
		}
		in.log.Warn("uninstalling a service that did not stop cleanly", "package", id, "error", err)
	}
	return in.finishUninstall(jctx, jr)
}

// dependents lists the installed packages that require id.
func dependents(doc *model.Document, id string) []string {
	var out []string
	for other, e := range doc.Public.PackageData {
		if other == id || len(e.StateInfo.Manifest) == 0 {
			continue
		}
		var m struct {
			Dependencies map[string]struct {
				Requirement struct {
					Type string `json:"type"`
				} `json:"requirement"`
			} `json:"dependencies"`
		}
		if json.Unmarshal(e.StateInfo.Manifest, &m) != nil {
			continue
		}
		if d, ok := m.Dependencies[id]; ok && d.Requirement.Type == "required" {
			out = append(out, other)
		}
	}
	sort.Strings(out)
	return out
}

// finishUninstall removes images, archive and volumes, then the entry. It
// is safe to run again after a crash.
func (in *Installer) finishUninstall(ctx context.Context, jr *journal) error {
	id := jr.ID
	var problems []string
	if m, _, err := manifest.ParseArchived(jr.OldManifest); err == nil {
		for _, img := range m.ImageIDs() {
			tag := manifest.DockerTag(id, img, m.Version)
			if err := in.engine.Remove(ctx, tag, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				problems = append(problems, err.Error())
			}
		}
		if jr.Soft {
			// Assets come back from the archive at the next install.
			for vid, v := range m.Volumes {
				if v != nil && v.Type == manifest.VolumeAssets {
					os.RemoveAll(in.volumeDir(id, vid))
				}
			}
		}
	} else {
		problems = append(problems, fmt.Sprintf("reading the manifest: %v", err))
	}
	if err := os.Remove(in.archivePath(id)); err != nil && !os.IsNotExist(err) {
		problems = append(problems, err.Error())
	}
	if !jr.Soft {
		if err := os.RemoveAll(filepath.Join(in.dataDir, "volumes", id)); err != nil {
			problems = append(problems, err.Error())
		}
	}
	os.RemoveAll(in.updateDir(id))
	if err := in.static().RemovePackage(id); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		// Keep the entry in removing and the journal: the next start retries.
		return fmt.Errorf("uninstalling %s: %s: %w", id, strings.Join(problems, "; "), errdefs.ErrFilesystem)
	}
	_, err := in.store.Mutate(ctx, func(d *model.Document) error {
		delete(d.Public.PackageData, id)
		delete(d.Private.PackageStores, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("uninstalling %s: %w", id, err)
	}
	jr.remove()
	in.log.Info("package uninstalled", "package", id, "soft", jr.Soft)
	return nil
}
