package install

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// Bounds on the host ports packages publish (each lan-config port is bound
// on the host and costs a docker-proxy process).
const (
	MaxPortsPerPackage = 16
	MaxPublishedPorts  = 128
	// MinHostPort: ports below it are privileged and belong to the box.
	MinHostPort = 1024
)

// hostPorts lists the host ports a manifest publishes (its lan-config
// keys), sorted.
func hostPorts(m *manifest.Manifest) ([]uint16, error) {
	var out []uint16
	for ifID, iface := range m.Interfaces {
		if iface == nil {
			continue
		}
		for ext := range iface.LanConfig {
			n, err := strconv.ParseUint(strings.TrimSpace(ext), 10, 16)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("package %s: interface %q: lan port %q is not a port number: %w", m.ID, ifID, ext, errdefs.ErrInvalidRequest)
			}
			out = append(out, uint16(n))
		}
	}
	slices.Sort(out)
	return out, nil
}

// checkPorts refuses a package that publishes too many host ports, a
// privileged port, a port of the daemon's, or a port another installed
// package publishes.
func (in *Installer) checkPorts(m *manifest.Manifest) error {
	ports, err := hostPorts(m)
	if err != nil {
		return err
	}
	if len(ports) > MaxPortsPerPackage {
		return fmt.Errorf("package %s publishes %d ports; the limit is %d per package: %w", m.ID, len(ports), MaxPortsPerPackage, errdefs.ErrInvalidRequest)
	}
	var problems []string
	for i, p := range ports {
		switch {
		case i > 0 && ports[i-1] == p:
			problems = append(problems, fmt.Sprintf("port %d is published twice", p))
		case p < MinHostPort:
			problems = append(problems, fmt.Sprintf("port %d is privileged (below %d) and would be bound on the host", p, MinHostPort))
		case slices.Contains(in.reserved, p):
			problems = append(problems, fmt.Sprintf("port %d is the daemon's own", p))
		}
	}
	_, doc := in.store.Read()
	total := len(ports)
	for other, e := range doc.Public.PackageData {
		if other == m.ID {
			continue
		}
		om := publishedBy(e)
		if om == nil {
			continue
		}
		theirs, err := hostPorts(om)
		if err != nil {
			continue
		}
		total += len(theirs)
		for _, p := range ports {
			if slices.Contains(theirs, p) {
				problems = append(problems, fmt.Sprintf("port %d is published by %s", p, other))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("package %s cannot publish its lan ports: %s: %w", m.ID, strings.Join(problems, "; "), errdefs.ErrInvalidRequest)
	}
	if total > MaxPublishedPorts {
		return fmt.Errorf("package %s would bring the published ports of all packages to %d; the limit is %d: %w", m.ID, total, MaxPublishedPorts, errdefs.ErrInvalidRequest)
	}
	return nil
}

// publishedBy is the manifest whose ports an entry holds (the installed
// one, or the one being installed), or nil.
func publishedBy(e model.PackageDataEntry) *manifest.Manifest {
	raw := e.StateInfo.Manifest
	if len(raw) == 0 && e.StateInfo.InstallingInfo != nil {
		raw = e.StateInfo.InstallingInfo.NewManifest
	}
	if len(raw) == 0 {
		return nil
	}
	m, _, err := manifest.ParseArchived(raw)
	if err != nil {
		return nil
	}
	return m
}
