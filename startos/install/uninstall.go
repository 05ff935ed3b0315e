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
	var leftover engineLeftover
	if err := in.services.Release(jctx, id); err != nil {
		switch {
		case errors.As(err, &leftover):
			// The engine answered but cannot remove an object (overlay2's
			// "device or resource busy" after an engine restart): that is
			// the engine's defect, recorded for the sweeper; the package is
			// still removed.
			in.log.Warn("uninstalling a package whose container the engine cannot remove", "package", id, "error", err)
		case force:
			in.log.Warn("uninstalling a service that did not stop cleanly", "package", id, "error", err)
		default:
			if uerr := in.mutateRetry(jctx, "putting the entry back after a failed uninstall", func(d *model.Document) error {
				if e, ok := d.Public.PackageData[id]; ok && e.StateInfo.State == model.PackageRemoving {
					e.StateInfo.State = model.PackageInstalled
					d.Public.PackageData[id] = e
				}
				return nil
			}); uerr != nil {
				// Keep the journal: the next start finishes the uninstall.
				in.log.Error("putting the entry back after a failed uninstall", "package", id, "error", uerr)
				return fmt.Errorf("stopping %s: %w (and the entry could not be put back: %v)", id, err, uerr)
			}
			jr.remove()
			return fmt.Errorf("stopping %s (uninstall with force to remove it anyway): %w", id, err)
		}
	}
	if err := in.finishUninstall(jctx, jr); err != nil {
		return err
	}
	if leftover != nil {
		return fmt.Errorf("package %s is uninstalled, but %w: %w", id, leftover, errdefs.ErrDocker)
	}
	return nil
}

// engineLeftover is an error of Release for objects the engine refused to
// remove and that the service manager recorded for its sweeper
// (*service.LeftoverError).
type engineLeftover interface {
	error
	EngineLeftover() []string
}

// leftoverRecorder is implemented by a service manager that sweeps what the
// engine could not remove (*service.Manager).
type leftoverRecorder interface {
	RecordLeftover(kind, ref, pkg string, err error)
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
			err := in.engine.Remove(ctx, tag, true)
			if err == nil || errors.Is(err, errdefs.ErrNotFound) {
				continue
			}
			if r, ok := in.services.(leftoverRecorder); ok && errors.Is(err, errdefs.ErrDocker) {
				// The engine refuses (an image a dead container holds):
				// the sweeper retries it; the package is removed anyway.
				in.log.Warn("the engine could not remove an image; left for the sweeper", "image", tag, "error", err)
				r.RecordLeftover("image", tag, id, err)
				continue
			}
			problems = append(problems, err.Error())
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
	if err := os.RemoveAll(in.updateDir(id)); err != nil {
		problems = append(problems, err.Error())
	}
	if err := in.static().RemovePackage(id); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		// Keep the entry in removing and the journal: the next start retries.
		return fmt.Errorf("uninstalling %s: %s: %w", id, strings.Join(problems, "; "), errdefs.ErrFilesystem)
	}
	err := in.mutateRetry(ctx, "removing the entry of an uninstalled package", func(d *model.Document) error {
		delete(d.Public.PackageData, id)
		delete(d.Private.PackageStores, id)
		if !jr.Soft {
			// The data is gone: another publisher may use the id.
			delete(d.Private.PackageKeys, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("uninstalling %s: %w", id, err)
	}
	jr.remove()
	in.log.Info("package uninstalled", "package", id, "soft", jr.Soft)
	return nil
}
