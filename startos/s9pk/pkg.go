package s9pk

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
)

// Paths inside a package archive.
const (
	ManifestPath     = "manifest.json"
	LicensePath      = "LICENSE.md"
	InstructionsPath = "instructions.md"
	ImagesDir        = "images"
	AssetsDir        = "assets"
)

// maxSmallFile bounds the icon, license and instructions read into memory.
const maxSmallFile = 4 << 20

func (a *Archive) loadManifest(opts *Options) error {
	e, err := a.file(ManifestPath)
	if err != nil {
		return fmt.Errorf("s9pk: not a package: manifest.json is missing: %w", malformed)
	}
	b, err := a.readEntry(e, manifest.MaxSize)
	if err != nil {
		return err
	}
	a.manifestJSON = b
	m, _, err := manifest.ParseArchived(b)
	if err != nil {
		var merr *manifest.Error
		if opts.LaxManifest && errors.As(err, &merr) {
			a.manifestErr = fmt.Errorf("s9pk: manifest.json: %w", err)
			return nil
		}
		return fmt.Errorf("s9pk: manifest.json: %w", err)
	}
	a.manifest = m
	return nil
}

// Manifest returns the validated manifest. It is nil only when the archive
// was opened with LaxManifest and the manifest is invalid.
func (a *Archive) Manifest() *manifest.Manifest { return a.manifest }

// ManifestJSON returns manifest.json as stored (verified).
func (a *Archive) ManifestJSON() []byte { return a.manifestJSON }

// ManifestErr says why the manifest is invalid, when opened with
// LaxManifest.
func (a *Archive) ManifestErr() error { return a.manifestErr }

// Icon returns the icon's file name (icon.<ext>) and verified contents.
func (a *Archive) Icon() (string, []byte, error) {
	e := a.iconEntry()
	if e == nil {
		return "", nil, fmt.Errorf("s9pk: no icon in the archive: %w", errdefs.ErrNotFound)
	}
	b, err := a.readEntry(e, maxSmallFile)
	return e.Name, b, err
}

func (a *Archive) iconEntry() *Entry {
	for _, c := range a.root.Children {
		if c.Type == FileEntry && strings.TrimSuffix(c.Name, path.Ext(c.Name)) == "icon" {
			return c
		}
	}
	return nil
}

// License returns LICENSE.md.
func (a *Archive) License() ([]byte, error) { return a.ReadFile(LicensePath, maxSmallFile) }

// Instructions returns instructions.md.
func (a *Archive) Instructions() ([]byte, error) { return a.ReadFile(InstructionsPath, maxSmallFile) }

// Image is one image archive in a package: images/<arch>/<id>.tar, a Docker
// image archive (docker save) the engine loads with its image-load API.
type Image struct {
	ID    string
	Arch  string
	Path  string
	Size  int64
	entry *Entry
}

// Arches returns the architectures the package has images for, sorted.
func (a *Archive) Arches() []string {
	dir := a.root.Child(ImagesDir)
	if dir == nil || dir.Type != DirEntry {
		return nil
	}
	var out []string
	for _, c := range dir.Children {
		if c.Type == DirEntry {
			out = append(out, c.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Images returns the images for arch, sorted by id. An arch with no images
// gives an empty list.
func (a *Archive) Images(arch string) []Image {
	dir, err := a.Stat(ImagesDir + "/" + arch)
	if err != nil || dir.Type != DirEntry {
		return nil
	}
	var out []Image
	for _, c := range dir.Children {
		id, ok := strings.CutSuffix(c.Name, ".tar")
		if c.Type != FileEntry || !ok {
			continue
		}
		out = append(out, Image{ID: id, Arch: arch, Path: c.Path, Size: c.Size, entry: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// OpenImage returns an image archive's verified contents, ready for the
// engine's image-load API.
func (a *Archive) OpenImage(img Image) (io.ReadCloser, error) { return a.Open(img.Path) }

// Package is what WritePackage puts in an archive.
type Package struct {
	Manifest     *manifest.Manifest
	Icon         Source
	IconExt      string // "png" when empty
	License      Source
	Instructions Source
	// Assets maps paths below assets/ ("<volume-id>/file") to contents.
	Assets map[string]Source
	Images []PackageImage
}

// PackageImage is one Docker image archive for one architecture.
type PackageImage struct {
	ID     string
	Arch   string
	Source Source
}

// Builder returns a Builder holding pkg, checked for what a package needs.
func (pkg *Package) Builder() (*Builder, error) {
	m := pkg.Manifest
	if m == nil {
		return nil, fmt.Errorf("s9pk: package has no manifest: %w", errdefs.ErrInvalidRequest)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if pkg.Icon == nil || pkg.License == nil || pkg.Instructions == nil {
		return nil, fmt.Errorf("s9pk: a package needs an icon, a license and instructions: %w", errdefs.ErrInvalidRequest)
	}
	mj, err := m.MarshalArchived()
	if err != nil {
		return nil, fmt.Errorf("s9pk: encoding manifest: %w", err)
	}
	ext := pkg.IconExt
	if ext == "" {
		ext = "png"
	}
	b := NewBuilder()
	add := func(p string, s Source) {
		if err == nil {
			err = b.Add(p, s)
		}
	}
	add(ManifestPath, BytesSource(mj))
	add("icon."+ext, pkg.Icon)
	add(LicensePath, pkg.License)
	add(InstructionsPath, pkg.Instructions)
	for _, p := range sortedKeys(pkg.Assets) {
		add(AssetsDir+"/"+p, pkg.Assets[p])
	}
	for _, img := range pkg.Images {
		if !slices.Contains(manifest.Arches, img.Arch) {
			return nil, fmt.Errorf("s9pk: image %s: unknown architecture %q: %w", img.ID, img.Arch, errdefs.ErrInvalidRequest)
		}
		add(ImagesDir+"/"+img.Arch+"/"+img.ID+".tar", img.Source)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// WritePackage writes and signs a package archive at offset 0 of w.
func WritePackage(w io.WriterAt, key ed25519.PrivateKey, pkg *Package) (*Result, error) {
	b, err := pkg.Builder()
	if err != nil {
		return nil, err
	}
	return b.WriteTo(w, key)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
