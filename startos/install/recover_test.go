package install

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }

// An install cut short by a crash (entry in installing, a half-written
// archive, a created folder, an upload) is undone by the next New.
func TestRecoverInstall(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	m, err := testpkg.NewManifest(testpkg.Options{ID: id, Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	mj, _ := m.MarshalArchived()
	if _, err := e.store.Mutate(context.Background(), func(d *model.Document) error {
		d.Public.PackageData[id] = model.PackageDataEntry{StateInfo: model.StateInfo{State: model.PackageInstalling,
			InstallingInfo: &model.InstallingInfo{NewManifest: mj}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(e.dataDir, "packages", id+".s9pk")
	os.WriteFile(archive, []byte("half an archive"), 0o644)
	vol := filepath.Join(e.dataDir, "volumes", id, "main")
	os.MkdirAll(vol, 0o755)
	upload := filepath.Join(e.dataDir, "tmp", "upload-123.s9pk")
	os.WriteFile(upload, []byte("partial"), 0o644)
	jr := &journal{ID: id, Kind: kindInstall, NewManifest: mj, Archived: true,
		CreatedDirs: []string{filepath.Join(e.dataDir, "volumes", id), vol}, path: e.in.journalPath(id)}
	if err := jr.save(); err != nil {
		t.Fatal(err)
	}
	// An entry stuck in installing with no journal (crash before it was
	// written), and an archive nobody owns.
	other := testID()
	e.store.Mutate(context.Background(), func(d *model.Document) error {
		d.Public.PackageData[other] = model.PackageDataEntry{StateInfo: model.StateInfo{State: model.PackageInstalling}}
		return nil
	})
	os.WriteFile(filepath.Join(e.dataDir, "packages", "orphan.s9pk"), []byte("x"), 0o644)

	e.reopen()
	e.assertPristine(id, "0.1.0")
	e.assertPristine(other, "")
	if _, err := os.Stat(filepath.Join(e.dataDir, "packages", "orphan.s9pk")); !os.IsNotExist(err) {
		t.Errorf("orphan archive left: %v", err)
	}
}

// An update cut short after its migration changed the data (the archives
// swapped, the new image loaded) puts the old version back on the next New.
func TestRecoverUpdate(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	state := filepath.Join(e.dataDir, "volumes", id, "main", "state.txt")
	os.WriteFile(state, []byte("before\n"), 0o644)
	p, _ := e.entry(id)
	oldJSON := p.StateInfo.Manifest

	// Stage what a crash mid-update leaves.
	newSpec := testpkg.Options{ID: id, Version: "0.2.0"}
	nm, _ := testpkg.NewManifest(newSpec)
	nj, _ := nm.MarshalArchived()
	newTag := manifest.DockerTag(id, "main", nm.Version)
	img, err := e.b.Image(context.Background(), newSpec)
	if err != nil {
		t.Fatal(err)
	}
	e.cleanupImages(nm)
	if _, err := e.eng.Load(context.Background(), strings.NewReader(string(img))); err != nil {
		t.Fatal(err)
	}
	dir := e.in.updateDir(id)
	os.MkdirAll(dir, 0o755)
	if err := copyTree(context.Background(), filepath.Join(e.dataDir, "volumes", id), filepath.Join(dir, "volumes")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(state, []byte("before\nhalf migrated\n"), 0o644)
	archive := filepath.Join(e.dataDir, "packages", id+".s9pk")
	os.Rename(archive, filepath.Join(dir, "old.s9pk"))
	os.WriteFile(archive, []byte("new archive"), 0o644)
	jr := &journal{ID: id, Kind: kindUpdate, NewManifest: nj, OldManifest: oldJSON, LoadedImages: []string{newTag},
		Released: true, Snapshot: true, Swapped: true, path: e.in.journalPath(id)}
	jr.save()
	e.store.Mutate(context.Background(), func(d *model.Document) error {
		pe := d.Public.PackageData[id]
		pe.StateInfo.State = model.PackageUpdating
		pe.StateInfo.InstallingInfo = &model.InstallingInfo{NewManifest: nj}
		d.Public.PackageData[id] = pe
		return nil
	})

	e.reopen()
	if v := e.installedVersion(id); v != "0.1.0" {
		t.Errorf("version after recovery %s", v)
	}
	if b, _ := os.ReadFile(state); string(b) != "before\n" {
		t.Errorf("data after recovery %q", b)
	}
	if b, _ := os.ReadFile(archive); len(b) < 1000 {
		t.Errorf("archive after recovery is %q", b)
	}
	if e.imageExists(newTag) {
		t.Error("the new image is left")
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dataDir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp not empty: %d", len(ents))
	}
}

// An uninstall cut short is finished by the next New.
func TestRecoverUninstall(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	p, _ := e.entry(id)
	jr := &journal{ID: id, Kind: kindUninstall, OldManifest: p.StateInfo.Manifest, path: e.in.journalPath(id)}
	jr.save()
	e.store.Mutate(context.Background(), func(d *model.Document) error {
		pe := d.Public.PackageData[id]
		pe.StateInfo.State = model.PackageRemoving
		d.Public.PackageData[id] = pe
		return nil
	})
	e.reopen()
	e.assertPristine(id, "0.1.0")
}
