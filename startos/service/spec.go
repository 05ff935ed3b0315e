package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/hostpath"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/s9pk"
)

// Engine object names and labels (the contract with the installer).
const (
	LabelPackage   = "dev.startos.package"
	LabelVersion   = "dev.startos.version"
	LabelProcedure = "dev.startos.procedure"

	// DefaultSigtermTimeout is how long a stop waits after SIGTERM when the
	// manifest does not say.
	DefaultSigtermTimeout = 30 * time.Second
)

// ContainerName is the main container of package id.
func ContainerName(id string) string { return "startos." + id }

// NetworkName is the bridge network of package id.
func NetworkName(id string) string { return "startos-" + id }

// ArchivePath is where the installer keeps package id's archive.
func ArchivePath(dataDir, id string) string {
	return filepath.Join(dataDir, "packages", id+".s9pk")
}

// VolumePath is the host folder of volume vol of package id.
func VolumePath(dataDir, id, vol string) string {
	return filepath.Join(dataDir, "volumes", id, vol)
}

func sigtermTimeout(p *manifest.Procedure) time.Duration {
	if p.SigtermTimeout > 0 {
		return time.Duration(p.SigtermTimeout)
	}
	return DefaultSigtermTimeout
}

// mounts turns a procedure's {volume-id: path} into bind mounts, creating
// missing data volume folders. Every source is checked here, whatever the
// manifest parser said: ids have the strict syntax, a pointer names a
// declared dependency, and each folder, symlinks resolved, lies inside
// <dataDir>/volumes. Pointers are read-only unless the manifest says
// readonly: false.
func mounts(dataDir, id string, mf *manifest.Manifest, want map[string]string) ([]container.Mount, error) {
	if err := hostpath.CheckManifest(mf); err != nil {
		return nil, err
	}
	volRoot := filepath.Join(dataDir, "volumes")
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []container.Mount
	for _, volID := range keys {
		target := want[volID]
		v := mf.Volumes[volID]
		if v == nil {
			return nil, fmt.Errorf("package %s: mount of volume %q: the manifest declares no such volume: %w", id, volID, errdefs.ErrInvalidRequest)
		}
		if !strings.HasPrefix(target, "/") {
			return nil, fmt.Errorf("package %s: mount of volume %q: mount point %q must be an absolute path: %w", id, volID, target, errdefs.ErrInvalidRequest)
		}
		if err := hostpath.CheckSubPath(fmt.Sprintf("package %s: mount of volume %q", id, volID), target); err != nil {
			return nil, err
		}
		m := container.Mount{Target: target}
		var src string
		switch v.Type {
		case manifest.VolumeData, manifest.VolumeAssets:
			dir, err := hostpath.VolumeDir(dataDir, id, volID)
			if err != nil {
				return nil, err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("package %s: volume %q: %v: %w", id, volID, err, errdefs.ErrFilesystem)
			}
			src, m.ReadOnly = dir, v.Type == manifest.VolumeAssets
		case manifest.VolumePointer:
			dir, err := hostpath.VolumeDir(dataDir, v.PackageID, v.VolumeID)
			if err != nil {
				return nil, err
			}
			src = filepath.Join(dir, filepath.Clean("/"+v.Path))
			m.ReadOnly = !v.Writable()
			if _, err := os.Stat(src); err != nil {
				return nil, fmt.Errorf("package %s: volume %q points to %s's volume %q, which is missing: %w", id, volID, v.PackageID, v.VolumeID, errdefs.ErrDependency)
			}
		default:
			return nil, fmt.Errorf("package %s: volume %q of type %q cannot be mounted yet: %w", id, volID, v.Type, errdefs.ErrInvalidRequest)
		}
		// The engine follows symlinks in a bind source: hand it the
		// resolved folder, and only when that is still a volume folder.
		real, err := hostpath.Resolve(volRoot, src)
		if err != nil {
			return nil, fmt.Errorf("package %s: volume %q: %w", id, volID, err)
		}
		if !hostpath.IsDir(real) {
			return nil, fmt.Errorf("package %s: volume %q: %s is not a folder: %w", id, volID, real, errdefs.ErrInvalidRequest)
		}
		m.Source = real
		out = append(out, m)
	}
	return out, nil
}

// ports publishes the internal port of every lan-config entry on hostIP with
// a host port the engine chooses: the LAN router (startos/net) finds it by
// inspect, so packages never clash over host ports.
func ports(hostIP string, mf *manifest.Manifest) ([]container.PortBinding, error) {
	var out []container.PortBinding
	published := map[manifest.Port]bool{}
	for _, ifID := range sortedKeys(mf.Interfaces) {
		iface := mf.Interfaces[ifID]
		if iface == nil {
			continue
		}
		for _, ext := range sortedKeys(iface.LanConfig) {
			lc := iface.LanConfig[ext]
			n, err := strconv.ParseUint(ext, 10, 16)
			if err != nil || n == 0 || lc == nil || lc.Internal == 0 {
				return nil, fmt.Errorf("package %s: interface %q: lan port %q: want a port number mapped to an internal port: %w", mf.ID, ifID, ext, errdefs.ErrInvalidRequest)
			}
			if !published[lc.Internal] {
				published[lc.Internal] = true
				out = append(out, container.PortBinding{HostIP: hostIP, ContainerPort: uint16(lc.Internal)})
			}
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mainSpec is the main container of a package.
func (m *Manager) mainSpec(mf *manifest.Manifest) (container.Spec, error) {
	p := &mf.Main
	if p.Type != manifest.ProcedureDocker || p.System {
		return container.Spec{}, fmt.Errorf("package %s: main must be a docker procedure of one of the package's images: %w", mf.ID, errdefs.ErrInvalidRequest)
	}
	mnts, err := mounts(m.opts.DataDir, mf.ID, mf, p.Mounts)
	if err != nil {
		return container.Spec{}, err
	}
	prts, err := ports(m.opts.HostIP, mf)
	if err != nil {
		return container.Spec{}, err
	}
	s := container.Spec{
		Name:        ContainerName(mf.ID),
		Image:       manifest.DockerTag(mf.ID, p.Image, mf.Version),
		Cmd:         p.Args,
		Labels:      map[string]string{LabelPackage: mf.ID, LabelVersion: mf.Version.String(), LabelBox: m.box},
		Network:     NetworkName(mf.ID),
		Mounts:      mnts,
		Ports:       prts,
		StopTimeout: sigtermTimeout(p),
		ShmSize:     int64(p.ShmSizeMB) << 20,
		Init:        true,
	}
	if p.Entrypoint != "" {
		s.Entrypoint = []string{p.Entrypoint}
	}
	_, _, s.Probe = engineProbe(m.opts, mf)
	return s, nil
}

// ensureImages makes sure every image of the package is in the engine,
// loading missing ones from the archived package.
func (m *Manager) ensureImages(ctx context.Context, mf *manifest.Manifest) error {
	var missing []string
	for _, img := range mf.ImageIDs() {
		_, err := m.engine.Inspect(ctx, manifest.DockerTag(mf.ID, img, mf.Version))
		if errors.Is(err, errdefs.ErrNotFound) {
			missing = append(missing, img)
		} else if err != nil {
			return err
		}
	}
	if len(missing) == 0 {
		return nil
	}
	m.log.Info("loading images from the archive", "package", mf.ID, "images", missing)
	return m.loadImages(ctx, mf)
}

// loadImages loads all of the package's images for this machine from its
// archive.
func (m *Manager) loadImages(ctx context.Context, mf *manifest.Manifest) error {
	path := ArchivePath(m.opts.DataDir, mf.ID)
	a, err := s9pk.OpenFile(path, nil)
	if err != nil {
		return fmt.Errorf("package %s: images are missing and the archive cannot be read: %w", mf.ID, err)
	}
	defer a.Close()
	if got := a.Manifest(); got == nil || got.Version.Compare(mf.Version) != 0 {
		return fmt.Errorf("package %s: the archive at %s is not version %s: %w", mf.ID, path, mf.Version, errdefs.ErrNotFound)
	}
	imgs := a.Images(manifest.HostArch())
	if len(imgs) == 0 {
		return fmt.Errorf("package %s: the archive has no images for %s: %w", mf.ID, manifest.HostArch(), errdefs.ErrNotFound)
	}
	for _, img := range imgs {
		if !slices.Contains(mf.ImageIDs(), img.ID) {
			continue // not the package's: never loaded
		}
		r, err := a.OpenImage(img)
		if err != nil {
			return fmt.Errorf("package %s: image %s: %w", mf.ID, img.ID, err)
		}
		// Without the archive's own names, which could be another
		// package's tag; the daemon names the image.
		refs, err := m.engine.LoadUntagged(ctx, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("package %s: loading image %s: %w", mf.ID, img.ID, err)
		}
		if len(refs) != 1 {
			return fmt.Errorf("package %s: image %s: the image archive holds %d images; want one: %w", mf.ID, img.ID, len(refs), errdefs.ErrInvalidRequest)
		}
		if err := m.engine.Tag(ctx, refs[0], manifest.DockerTag(mf.ID, img.ID, mf.Version)); err != nil {
			return fmt.Errorf("package %s: image %s: %w", mf.ID, img.ID, err)
		}
	}
	return nil
}

// ensureContainer creates the package's network and main container unless
// a container of this version exists; a container of another version, or a
// stopped one with another health probe, is replaced. It does not start it.
func (m *Manager) ensureContainer(ctx context.Context, mf *manifest.Manifest) (container.ContainerState, error) {
	name := ContainerName(mf.ID)
	st, err := m.engine.InspectContainer(ctx, name)
	_, _, probe := engineProbe(m.opts, mf)
	switch {
	case err == nil && st.Labels[LabelVersion] == mf.Version.String() && (st.Running || probe.Equal(st.Probe)):
		return st, nil
	case err == nil:
		if st.Labels[LabelVersion] == mf.Version.String() {
			// Made by an older build or with other health intervals: a
			// stopped container is disposable, and the new one has the
			// probe the engine runs (a running one keeps the daemon's
			// checks until it stops).
			m.log.Info("replacing a container made with another health probe", "package", mf.ID)
		} else {
			m.log.Info("replacing the container of another version", "package", mf.ID, "had", st.Labels[LabelVersion], "want", mf.Version.String())
		}
		if err := m.engine.RemoveContainer(ctx, name, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return st, err
		}
	case !errors.Is(err, errdefs.ErrNotFound):
		return st, err
	}
	if err := m.ensureImages(ctx, mf); err != nil {
		return st, err
	}
	if _, err := m.engine.EnsureNetwork(ctx, NetworkName(mf.ID), map[string]string{LabelPackage: mf.ID, LabelBox: m.box}); err != nil {
		return st, err
	}
	spec, err := m.mainSpec(mf)
	if err != nil {
		return st, err
	}
	if _, cerr := m.engine.CreateContainer(ctx, spec); cerr != nil {
		// Another caller (Adopt and the actor) may have just made it.
		if st, err := m.engine.InspectContainer(ctx, name); err == nil && st.Labels[LabelVersion] == mf.Version.String() {
			return st, nil
		}
		return st, cerr
	}
	return m.engine.InspectContainer(ctx, name)
}
