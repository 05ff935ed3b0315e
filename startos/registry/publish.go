package registry

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/startos-go/startos/internal/atomicfile"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/s9pk"
)

// DefaultValidity is how long a freshly signed index stays valid. A
// registry re-signs (publishes, or `start-sdk index sign`) within it.
const DefaultValidity = 30 * 24 * time.Hour

// DefaultKeyPath is ~/.startos/registry.key.pem, the registry key's home:
// never inside the folder the index is served from.
func DefaultKeyPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home folder for the registry key: %w", err)
	}
	return filepath.Join(home, ".startos", "registry.key.pem"), nil
}

// LoadOrCreateKey reads the registry key at path, creating it (mode 0600)
// when create is set and there is none.
func LoadOrCreateKey(path string, create bool) (ed25519.PrivateKey, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("no registry key at %s (start-sdk index init creates one): %w", path, errdefs.ErrNotFound)
		}
		return s9pk.CreateKey(path)
	}
	return s9pk.LoadKey(path)
}

// Folder is a registry folder on disk: index.json and the archives and
// icons it names, ready for any static file server.
type Folder struct {
	Dir string
	Key ed25519.PrivateKey
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Validity of each signature; default DefaultValidity.
	Validity time.Duration
}

func (f *Folder) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Folder) indexPath() string { return filepath.Join(f.Dir, IndexFile) }

// Init creates the folder with an empty index signed by f.Key (sequence 1).
// It refuses a folder that already holds an index.
func (f *Folder) Init(name string) error {
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", f.Dir, err)
	}
	if _, err := os.Stat(f.indexPath()); err == nil {
		return fmt.Errorf("%s already holds an index: %w", f.Dir, errdefs.ErrDuplicate)
	}
	return f.write(&Index{Name: name, Packages: map[string]*Package{}})
}

// Load reads and verifies the folder's index with f.Key (an expired index
// is accepted: publishing re-signs it).
func (f *Folder) Load() (*Verified, error) {
	data, err := readLimited(f.indexPath(), MaxIndexSize)
	if err != nil {
		return nil, err
	}
	return Verify(data, VerifyOptions{Key: f.Key.Public().(ed25519.PublicKey), AllowExpired: true, Now: f.now()})
}

// write signs idx with the next sequence and replaces index.json.
func (f *Folder) write(idx *Index) error {
	validity := f.Validity
	if validity <= 0 {
		validity = DefaultValidity
	}
	now := f.now().UTC().Truncate(time.Second)
	idx.Sequence++
	idx.IssuedAt, idx.Expires = now, now.Add(validity)
	data, err := Sign(f.Key, idx)
	if err != nil {
		return err
	}
	return atomicfile.Write(f.indexPath(), data, 0o644)
}

// Sign re-signs the index as it is, with the next sequence and a new
// expiry.
func (f *Folder) Sign() (*Index, error) {
	v, err := f.Load()
	if err != nil {
		return nil, err
	}
	return v.Index, f.write(v.Index)
}

// PublishOptions shape one Publish.
type PublishOptions struct {
	// URLBase, when set, makes the archive's URL absolute (URLBase/path);
	// otherwise it is relative to the index.
	URLBase string
	// Categories the version is listed under.
	Categories []string
	// TrustDeveloper adds the archive's developer key to the package's
	// trusted keys when others are already trusted (a new maintainer).
	TrustDeveloper bool
}

// Publish verifies the archive at archivePath, copies it and its icon into
// the folder and adds the version to the index. A new package id trusts the
// key that signed its first archive; an archive signed by any other key is
// refused unless TrustDeveloper. A published version is never replaced.
func (f *Folder) Publish(archivePath string, o PublishOptions) (*Version, error) {
	ver, err := f.Load()
	if err != nil {
		return nil, err
	}
	idx := ver.Index
	file, err := s9pk.OpenFile(archivePath, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", archivePath, err)
	}
	defer file.Close()
	if err := file.VerifyAll(nil); err != nil {
		return nil, fmt.Errorf("%s: %w", archivePath, err)
	}
	m := file.Manifest()
	if m == nil {
		return nil, fmt.Errorf("%s: manifest: %v: %w", archivePath, file.ManifestErr(), errdefs.ErrParseS9pk)
	}
	dev := EncodeKey(file.PublicKey())
	pkg := idx.Packages[m.ID]
	if pkg == nil {
		pkg = &Package{Developers: []string{dev}, Versions: map[string]*Version{}}
	}
	if !slices.Contains(pkg.Developers, dev) {
		if !o.TrustDeveloper {
			return nil, fmt.Errorf("%s is signed by developer %s, which this registry does not trust for %s (it trusts %s); publish with --trust-developer to add it: %w",
				archivePath, Fingerprint(file.PublicKey()), m.ID, strings.Join(fingerprints(pkg.Developers), ", "), ErrUntrustedDeveloper)
		}
		pkg.Developers = append(pkg.Developers, dev)
	}
	vs := m.Version.String()
	if pkg.Versions[vs] != nil {
		return nil, fmt.Errorf("%s %s is already published (a published version never changes; publish a new version): %w", m.ID, vs, errdefs.ErrDuplicate)
	}
	rel := path.Join("packages", m.ID, vs)
	dir := filepath.Join(f.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := copyFile(archivePath, filepath.Join(dir, m.ID+".s9pk")); err != nil {
		return nil, err
	}
	v := &Version{
		ID: m.ID, Version: vs, Title: m.Title, Description: m.Description,
		Categories: o.Categories, ReleaseNotes: m.ReleaseNotes, Arch: file.Arches(),
		Size: file.Size(), Commitment: file.Commitment(), DeveloperKey: dev,
		Signature: encodeSig(file.Signature()), URL: rel + "/" + m.ID + ".s9pk",
		PublishedAt: f.now().UTC().Truncate(time.Second),
	}
	if !m.EOSVersion.IsZero() {
		v.OSVersion = m.EOSVersion.String()
	}
	if name, icon, err := file.Icon(); err == nil {
		if err := atomicfile.Write(filepath.Join(dir, name), icon, 0o644); err != nil {
			return nil, fmt.Errorf("writing the icon: %w", err)
		}
		v.Icon = rel + "/" + name
	}
	if o.URLBase != "" {
		base := strings.TrimSuffix(o.URLBase, "/") + "/"
		v.URL = base + v.URL
		if v.Icon != "" {
			v.Icon = base + v.Icon
		}
	}
	pkg.Versions[vs] = v
	idx.Packages[m.ID] = pkg
	// Check what is about to be signed as a box would.
	if err := idx.check(true); err != nil {
		return nil, err
	}
	if err := f.write(idx); err != nil {
		return nil, err
	}
	return v, nil
}

func fingerprints(keys []string) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if pub, err := DecodeKey(k); err == nil {
			out = append(out, Fingerprint(pub))
		}
	}
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// readLimited reads a file refusing more than max bytes.
func readLimited(name string, max int64) ([]byte, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading the index: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading the index: %w", err)
	}
	if int64(len(data)) > max {
		return nil, fail(ErrTooLarge, errdefs.ErrRegistry, "%s is over the %d-byte limit", name, max)
	}
	return data, nil
}
