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

// Bounds on the ports packages publish. Every lan-config port is published
// on 127.0.0.1 (an engine-chosen port, one docker-proxy process each); a raw
// TCP one is also forwarded on the box's LAN address with its own number.
// HTTP interfaces are routed by name (startos/net/lan), so their numbers are
// free to repeat between packages; raw TCP numbers are not (lan.CheckPorts
// refuses a clash, naming both packages).
const (
	MaxPortsPerPackage = 16
	MaxPublishedPorts  = 128
	// MinHostPort: raw forwards below it are privileged and belong to the box.
	MinHostPort = 1024
)

// lanPorts lists the lan-config ports of a manifest, sorted, and which of
// them are raw TCP forwards bound on the box.
func lanPorts(m *manifest.Manifest) (all, raw []uint16, err error) {
	for ifID, iface := range m.Interfaces {
		if iface == nil {
			continue
		}
		for ext := range iface.LanConfig {
			n, err := strconv.ParseUint(strings.TrimSpace(ext), 10, 16)
			if err != nil || n == 0 {
				return nil, nil, fmt.Errorf("package %s: interface %q: lan port %q is not a port number: %w", m.ID, ifID, ext, errdefs.ErrInvalidRequest)
			}
			all = append(all, uint16(n))
			if !iface.IsHTTP() {
				raw = append(raw, uint16(n))
			}
		}
	}
	slices.Sort(all)
	slices.Sort(raw)
	return all, raw, nil
}

// checkPorts refuses a package that publishes too many ports, or forwards a
// privileged port or one of the daemon's own as raw TCP.
func (in *Installer) checkPorts(m *manifest.Manifest) error {
	ports, raw, err := lanPorts(m)
	if err != nil {
		return err
	}
	if len(ports) > MaxPortsPerPackage {
		return fmt.Errorf("package %s publishes %d ports; the limit is %d per package: %w", m.ID, len(ports), MaxPortsPerPackage, errdefs.ErrInvalidRequest)
	}
	var problems []string
	for i, p := range raw {
		switch {
		case i > 0 && raw[i-1] == p:
			problems = append(problems, fmt.Sprintf("TCP port %d is forwarded twice", p))
		case p < MinHostPort:
			problems = append(problems, fmt.Sprintf("TCP port %d is privileged (below %d) and would be bound on the box", p, MinHostPort))
		case slices.Contains(in.reserved, p):
			problems = append(problems, fmt.Sprintf("TCP port %d is the daemon's own", p))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("package %s cannot publish its lan ports: %s: %w", m.ID, strings.Join(problems, "; "), errdefs.ErrInvalidRequest)
	}
	_, doc := in.store.Read()
	total := len(ports)
	for other, e := range doc.Public.PackageData {
		if other == m.ID {
			continue
		}
		if om := publishedBy(e); om != nil {
			if theirs, _, err := lanPorts(om); err == nil {
				total += len(theirs)
			}
		}
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
