package install

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
)

// Journal kinds.
const (
	kindInstall   = "install"
	kindUpdate    = "update"
	kindUninstall = "uninstall"
)

// journal records what a job has done so far, so that a crash at any point
// can be undone (or, for an uninstall, finished) by the next New. It is
// written before each step that changes something outside the document.
type journal struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind"`
	NewManifest json.RawMessage `json:"newManifest,omitempty"`
	OldManifest json.RawMessage `json:"oldManifest,omitempty"`
	// Upload is the verified upload file not yet moved into place.
	Upload string `json:"upload,omitempty"`
	// CreatedDirs are folders this job created (and so may remove).
	CreatedDirs []string `json:"createdDirs,omitempty"`
	// LoadedImages are tags this job put into the engine.
	LoadedImages []string `json:"loadedImages,omitempty"`
	// Archived: the archive is at packages/<id>.s9pk (fresh install).
	Archived bool `json:"archived,omitempty"`
	// Released: the old version's container is gone (update).
	Released bool `json:"released,omitempty"`
	// Snapshot: the volume snapshot is complete (update).
	Snapshot bool `json:"snapshot,omitempty"`
	// Swapped: the old archive is in the update folder and the new one in
	// place (update).
	Swapped bool `json:"swapped,omitempty"`
	// Soft: an uninstall keeps the data volumes.
	Soft bool `json:"soft,omitempty"`

	path string
}

const journalPrefix = "journal-"

func (in *Installer) journalPath(id string) string {
	return filepath.Join(in.tmpDir(), journalPrefix+id+".json")
}

// updateDir holds an update's snapshot and the old archive.
func (in *Installer) updateDir(id string) string {
	return filepath.Join(in.tmpDir(), "update-"+id)
}

// save writes the journal atomically and durably.
func (j *journal) save() error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	tmp := j.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing journal: %v: %w", err, errdefs.ErrFilesystem)
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing journal %s: %v: %w", j.path, err, errdefs.ErrFilesystem)
	}
	syncDir(filepath.Dir(j.path))
	return nil
}

func (j *journal) remove() {
	os.Remove(j.path)
}

// readJournals returns the journals under tmp, by package id.
func (in *Installer) readJournals() (map[string]*journal, error) {
	ents, err := os.ReadDir(in.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v: %w", in.tmpDir(), err, errdefs.ErrFilesystem)
	}
	out := map[string]*journal{}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, journalPrefix) || !strings.HasSuffix(name, ".json") {
			continue
		}
		p := filepath.Join(in.tmpDir(), name)
		b, err := os.ReadFile(p)
		j := &journal{}
		if err == nil {
			err = json.Unmarshal(b, j)
		}
		if err != nil || j.ID == "" {
			in.log.Warn("discarding an unreadable install journal", "path", p, "error", err)
			os.Remove(p)
			continue
		}
		j.path = p
		out[j.ID] = j
	}
	return out, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
