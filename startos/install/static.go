package install

import (
	"fmt"
	"path/filepath"

	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/s9pk"
	"github.com/startos-go/startos/startos/static"
)

// StaticDir is the folder, under the data dir, of the packages' icons,
// licences and instructions (see package static).
const StaticDir = "package-data"

func (in *Installer) static() *static.Store {
	return static.New(filepath.Join(in.dataDir, StaticDir))
}

// storeStaticFiles stores the archive's icon, licence and instructions by
// content hash and returns their URLs: the document holds the URLs, never
// the bytes.
func (in *Installer) storeStaticFiles(id string, a *s9pk.Archive) (model.StaticFiles, error) {
	var sf model.StaticFiles
	st := in.static()
	name, b, err := a.Icon()
	if err != nil {
		return sf, fmt.Errorf("reading the icon: %w", err)
	}
	if sf.Icon, err = st.Put(id, name, b); err != nil {
		return sf, err
	}
	if b, err = a.License(); err != nil {
		return sf, fmt.Errorf("reading %s: %w", s9pk.LicensePath, err)
	}
	if sf.License, err = st.Put(id, s9pk.LicensePath, b); err != nil {
		return sf, err
	}
	if b, err = a.Instructions(); err != nil {
		return sf, fmt.Errorf("reading %s: %w", s9pk.InstructionsPath, err)
	}
	if sf.Instructions, err = st.Put(id, s9pk.InstructionsPath, b); err != nil {
		return sf, err
	}
	return sf, nil
}
