// Package hostpath is the daemon's own check of everything from a package
// archive that becomes a host path: package, volume and image ids, pointer
// volumes, and the folders they name. It does not trust the manifest parser
// to have refused a hostile archive: the install and every container
// creation call it again, and a host path is used only after it has been
// resolved (symlinks included) and found inside the data dir.
package hostpath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
)

// idPattern is the id syntax (lowercase letters, digits, single dashes),
// kept here as well as in the manifest parser on purpose.
var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// MaxIDLen bounds every id.
const MaxIDLen = 64

// ErrEscape marks a path that would leave the data dir.
var ErrEscape = errors.New("leaves the data dir")

// CheckID refuses an id that is not lowercase letters, digits and single
// dashes; kind names it in the error ("package id", "volume id").
func CheckID(kind, id string) error {
	if len(id) > MaxIDLen || !idPattern.MatchString(id) {
		return fmt.Errorf("invalid %s %q: use lowercase letters, digits and single dashes (at most %d characters): %w", kind, id, MaxIDLen, errdefs.ErrInvalidRequest)
	}
	return nil
}

// CheckSubPath refuses a path inside a volume that could leave it: a ".."
// component, a NUL, a backslash or a control character. A leading "/" is
// allowed and means the volume's root.
func CheckSubPath(what, p string) error {
	if len(p) > 1024 {
		return fmt.Errorf("%s: path is %d bytes; the limit is 1024: %w", what, len(p), errdefs.ErrInvalidRequest)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%s: path %q holds a control character or a backslash: %w", what, p, errdefs.ErrInvalidRequest)
		}
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("%s: path %q must not contain ..: %w", what, p, errdefs.ErrInvalidRequest)
		}
	}
	return nil
}

// CheckManifest checks every id and path of m that becomes a host path or a
// Docker object name, and that a pointer volume points into a declared
// dependency. It is independent of manifest.Parse.
func CheckManifest(m *manifest.Manifest) error {
	if m == nil {
		return fmt.Errorf("no manifest: %w", errdefs.ErrInvalidRequest)
	}
	if err := CheckID("package id", m.ID); err != nil {
		return err
	}
	for _, img := range m.ImageIDs() {
		if err := CheckID("image id", img); err != nil {
			return fmt.Errorf("package %s: %w", m.ID, err)
		}
	}
	for ifID := range m.Interfaces {
		if err := CheckID("interface id", ifID); err != nil {
			return fmt.Errorf("package %s: %w", m.ID, err)
		}
	}
	for dep := range m.Dependencies {
		if err := CheckID("dependency id", dep); err != nil {
			return fmt.Errorf("package %s: %w", m.ID, err)
		}
	}
	for volID, v := range m.Volumes {
		if err := CheckID("volume id", volID); err != nil {
			return fmt.Errorf("package %s: %w", m.ID, err)
		}
		if v == nil || v.Type != manifest.VolumePointer {
			continue
		}
		what := fmt.Sprintf("package %s: pointer volume %q", m.ID, volID)
		if err := CheckID("package id", v.PackageID); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := CheckID("volume id", v.VolumeID); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := CheckSubPath(what, v.Path); err != nil {
			return err
		}
		if v.PackageID == m.ID {
			return fmt.Errorf("%s: points to the package itself: %w", what, errdefs.ErrInvalidRequest)
		}
		if _, ok := m.Dependencies[v.PackageID]; !ok {
			return fmt.Errorf("%s: %s is not a declared dependency: %w", what, v.PackageID, errdefs.ErrInvalidRequest)
		}
	}
	return nil
}

// VolumeDir is <dataDir>/volumes/<pkg>/<vol> after checking both ids.
func VolumeDir(dataDir, pkg, vol string) (string, error) {
	if err := CheckID("package id", pkg); err != nil {
		return "", err
	}
	if err := CheckID("volume id", vol); err != nil {
		return "", err
	}
	return filepath.Join(dataDir, "volumes", pkg, vol), nil
}

// Resolve returns the real path of p (which must exist), refusing it unless
// it is root or inside root once every symlink of both is resolved. The
// result is what may be handed to the engine: a symlink planted in a volume
// cannot point a bind mount elsewhere.
func Resolve(root, p string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	if !Within(realRoot, real) {
		return "", fmt.Errorf("%s resolves to %s, outside %s: %w: %w", p, real, realRoot, ErrEscape, errdefs.ErrInvalidRequest)
	}
	return real, nil
}

// Within reports whether p is root or below it (both clean and absolute).
func Within(root, p string) bool {
	root, p = filepath.Clean(root), filepath.Clean(p)
	if p == root {
		return true
	}
	if root == string(filepath.Separator) {
		return strings.HasPrefix(p, root)
	}
	return strings.HasPrefix(p, root+string(filepath.Separator))
}

// IsDir reports whether p is a directory (not following a final symlink is
// not needed: callers pass resolved paths).
func IsDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
