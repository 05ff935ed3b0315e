package install

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// recover undoes what a crash left half done. It runs in New, before the
// service manager starts: an interrupted install is removed, an interrupted
// update puts the old version back, an interrupted uninstall is finished,
// and stray temp files go.
func (in *Installer) recover(ctx context.Context) error {
	journals, err := in.readJournals()
	if err != nil {
		return err
	}
	_, doc := in.store.Read()
	for id, jr := range journals {
		e, exists := doc.Public.PackageData[id]
		switch jr.Kind {
		case kindInstall:
			if exists && e.StateInfo.State == model.PackageInstalled {
				// Committed; the crash came after.
				if jr.Upload != "" {
					os.Remove(jr.Upload)
				}
				jr.remove()
				continue
			}
			in.log.Warn("undoing an install cut short", "package", id)
			if err := in.services.Release(ctx, id); err != nil {
				in.log.Warn("releasing after an install cut short", "package", id, "error", err)
			}
			in.undoInstall(ctx, jr)
		case kindUpdate:
			if exists && e.StateInfo.State == model.PackageInstalled && bytes.Equal(bytes.TrimSpace(e.StateInfo.Manifest), bytes.TrimSpace(jr.NewManifest)) {
				in.finishUpdate(ctx, jr)
				jr.remove()
				continue
			}
			in.log.Warn("putting back the old version after an update cut short", "package", id)
			if err := in.services.Release(ctx, id); err != nil {
				in.log.Warn("releasing after an update cut short", "package", id, "error", err)
			}
			in.undoUpdate(ctx, jr, false)
		case kindUninstall:
			in.log.Warn("finishing an uninstall cut short", "package", id)
			if exists {
				if err := in.services.Release(ctx, id); err != nil {
					in.log.Warn("releasing during an uninstall cut short", "package", id, "error", err)
				}
			}
			if err := in.finishUninstall(ctx, jr); err != nil {
				in.log.Error("finishing an uninstall cut short", "package", id, "error", err)
			}
		default:
			jr.remove()
		}
	}

	// Entries left in between with no journal: nothing outside the document
	// was touched yet (every job writes its journal first).
	_, err = in.store.Mutate(ctx, func(d *model.Document) error {
		for id, e := range d.Public.PackageData {
			if _, ok := journals[id]; ok {
				continue
			}
			switch e.StateInfo.State {
			case model.PackageInstalling:
				delete(d.Public.PackageData, id)
			case model.PackageUpdating, model.PackageRemoving:
				e.StateInfo.State = model.PackageInstalled
				e.StateInfo.InstallingInfo = nil
				d.Public.PackageData[id] = e
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	// Stray files: uploads, half-written journals, update folders with no
	// journal, and archives with no entry.
	_, doc = in.store.Read()
	if ents, err := os.ReadDir(in.tmpDir()); err == nil {
		for _, e := range ents {
			name := e.Name()
			p := filepath.Join(in.tmpDir(), name)
			switch {
			case strings.HasPrefix(name, "upload-"), strings.HasSuffix(name, ".tmp"):
				os.RemoveAll(p)
			case strings.HasPrefix(name, "update-"):
				id := strings.TrimPrefix(name, "update-")
				if _, err := os.Stat(in.journalPath(id)); err != nil {
					in.strayUpdateFolder(ctx, id, p)
				}
			}
		}
	}
	if ents, err := os.ReadDir(in.packagesDir()); err == nil {
		for _, e := range ents {
			id, ok := strings.CutSuffix(e.Name(), ".s9pk")
			if !ok || !manifest.ValidID(id) {
				continue
			}
			if _, installed := doc.Public.PackageData[id]; !installed {
				in.log.Warn("removing an archive no package owns", "path", filepath.Join(in.packagesDir(), e.Name()))
				os.Remove(filepath.Join(in.packagesDir(), e.Name()))
			}
		}
	}
	return nil
}

// strayUpdateFolder deals with an update folder that has no journal (its
// journal was lost or unreadable). It may hold the only copy of a package's
// data, so it is removed only when proven redundant: empty, or a snapshot
// identical to the live volumes. Otherwise it is moved to
// <data-dir>/recovered/ (where no later update clears it) and the owner is
// told.
func (in *Installer) strayUpdateFolder(ctx context.Context, id, dir string) {
	if redundantUpdateFolder(dir, filepath.Join(in.dataDir, "volumes", id)) {
		if err := os.RemoveAll(dir); err != nil {
			in.log.Warn("removing a stray update folder", "path", dir, "error", err)
		}
		return
	}
	keep := filepath.Join(in.dataDir, "recovered", filepath.Base(dir)+"-"+time.Now().UTC().Format("20060102T150405Z"))
	err := os.MkdirAll(filepath.Dir(keep), 0o700)
	if err == nil {
		err = in.rename(dir, keep)
	}
	if err != nil {
		// Leave it where it is: the next update of id would clear it, but
		// losing it now is worse. Say so every start.
		in.log.Error("an update folder without a journal may hold a volume snapshot and could not be set aside", "path", dir, "error", err)
		return
	}
	in.log.Warn("kept the volume snapshot of an interrupted update", "package", id, "path", keep)
	in.notify(ctx, model.NotificationInput{
		PackageID: id, Level: model.NotificationWarning, Title: "Update Snapshot Kept",
		Message: fmt.Sprintf("An update of %s was interrupted and its record was lost. Its volume snapshot was kept at %s; "+
			"compare it with the package's data and remove it when it is no longer needed.", id, keep),
	})
}

// redundantUpdateFolder reports whether dir holds nothing but, at most, a
// volume snapshot identical to the live volumes at live.
func redundantUpdateFolder(dir, live string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name() != "volumes" || !e.IsDir() {
			return false
		}
		same, err := sameTree(filepath.Join(dir, "volumes"), live)
		if err != nil || !same {
			return false
		}
	}
	return true
}
