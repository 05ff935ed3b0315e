// Package static keeps a package's icon, licence and instructions out of the
// state document: each file is stored once under its content hash and
// served at /public/package-data/<id>/<sha256>/<name>, as StartOS serves its
// static-files, with caching that never needs revalidation (a new content
// is a new URL). The document holds the URL.
package static

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"regexp"

	"github.com/startos-go/startos/internal/atomicfile"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
)

// URLPrefix is where the files are served.
const URLPrefix = "/public/package-data/"

// Names a file may have: the archive's own names.
var names = map[string]bool{
	"icon.png": true, "icon.jpg": true, "icon.jpeg": true, "icon.svg": true, "icon.webp": true, "icon.gif": true,
	"LICENSE.md": true, "instructions.md": true,
}

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Store is a folder of content-addressed files, one subfolder per package.
type Store struct{ dir string }

// New returns the store in dir (created on first Put).
func New(dir string) *Store { return &Store{dir: dir} }

// Put stores b as package id's file name and returns its URL.
func (s *Store) Put(id, name string, b []byte) (string, error) {
	if err := check(id, name); err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	p := s.path(id, hash, name)
	if _, err := os.Stat(p); err != nil {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("static: %v: %w", err, errdefs.ErrFilesystem)
		}
		if err := atomicfile.Write(p, b, 0o644); err != nil {
			return "", fmt.Errorf("static: writing %s of %s: %v: %w", name, id, err, errdefs.ErrFilesystem)
		}
	}
	return URLPrefix + id + "/" + hash + "/" + name, nil
}

// File is one stored file, ready to serve.
type File struct {
	Path        string // on disk
	ContentType string
	ETag        string // quoted, strong: the content hash
}

// Open finds the file a URL path under URLPrefix names ("<id>/<hash>/<name>").
// Anything that is not a package id, a hash and a known name is refused
// before it comes near a file path.
func (s *Store) Open(rel string) (File, error) {
	dir, name := path.Split(rel)
	id, hash := path.Split(path.Clean("/" + dir))
	id = path.Base(id)
	if err := check(id, name); err != nil {
		return File{}, err
	}
	if !hashPattern.MatchString(hash) || rel != id+"/"+hash+"/"+name {
		return File{}, fmt.Errorf("static: %q is not <package id>/<sha256>/<name>: %w", rel, errdefs.ErrNotFound)
	}
	p := s.path(id, hash, name)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return File{}, fmt.Errorf("static: %s: %w", rel, errdefs.ErrNotFound)
		}
		return File{}, fmt.Errorf("static: %v: %w", err, errdefs.ErrFilesystem)
	}
	typ := mime.TypeByExtension(path.Ext(name))
	switch {
	case path.Ext(name) == ".md":
		typ = "text/markdown; charset=utf-8"
	case typ == "":
		typ = "application/octet-stream"
	}
	return File{Path: p, ContentType: typ, ETag: `"` + hash + `"`}, nil
}

// RemovePackage deletes every file of package id.
func (s *Store) RemovePackage(id string) error {
	if !manifest.ValidID(id) {
		return fmt.Errorf("static: %q is not a package id: %w", id, errdefs.ErrInvalidRequest)
	}
	if err := os.RemoveAll(filepath.Join(s.dir, id)); err != nil {
		return fmt.Errorf("static: %v: %w", err, errdefs.ErrFilesystem)
	}
	return nil
}

func (s *Store) path(id, hash, name string) string {
	return filepath.Join(s.dir, id, hash+"-"+name)
}

func check(id, name string) error {
	if !manifest.ValidID(id) {
		return fmt.Errorf("static: %q is not a package id: %w", id, errdefs.ErrNotFound)
	}
	if !names[name] {
		return fmt.Errorf("static: %q is not an icon, LICENSE.md or instructions.md: %w", name, errdefs.ErrNotFound)
	}
	return nil
}
