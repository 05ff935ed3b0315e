// Package lan derives what a package's manifest asks of the LAN: which
// interfaces are web sites (served through the router under their own
// name) and which ports are raw TCP (forwarded on the box's address), the
// addresses a client shows, and the preflight that refuses a raw port
// another package already holds.
package lan

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/net/router"
)

// Interface is one interface of a package on the LAN.
type Interface struct {
	ID   string
	Name string // its LAN name, <interface>-<package>-<hostname>.local
	// HTTPPort is the container port the web site is served from; 0 for an
	// interface that is not HTTP.
	HTTPPort uint16
	// Plain is true when the manifest offers a non-TLS port for the site
	// (ssl: false), so plain http:// is served too, not redirected.
	Plain bool
	// TCP maps each raw box port to its container port.
	TCP []router.Forward
}

// IsHTTP tells whether an interface is a web site: its protocols name http
// or https, or it names none (StartOS's default is a web UI).
func IsHTTP(in *manifest.Interface) bool { return in.IsHTTP() }

// Interfaces plans every interface of mf that has lan-config ports.
func Interfaces(mf *manifest.Manifest, hostname string) ([]Interface, error) {
	var out []Interface
	for _, id := range sortedKeys(mf.Interfaces) {
		in := mf.Interfaces[id]
		if in == nil || len(in.LanConfig) == 0 {
			continue
		}
		ports, err := lanPorts(mf.ID, id, in)
		if err != nil {
			return nil, err
		}
		name, err := router.InterfaceName(id, mf.ID, hostname)
		if err != nil {
			return nil, fmt.Errorf("package %s: interface %q: %v: %w", mf.ID, id, err, errdefs.ErrInvalidRequest)
		}
		plan := Interface{ID: id, Name: name}
		if IsHTTP(in) {
			// The site's backend: the TLS port (443 first), else 80, else
			// the lowest; the router terminates TLS for all of them.
			best := ports[0]
			for _, p := range ports {
				if score(p) > score(best) {
					best = p
				}
			}
			plan.HTTPPort = best.internal
			for _, p := range ports {
				if !p.ssl {
					plan.Plain = true
				}
			}
		} else {
			for _, p := range ports {
				plan.TCP = append(plan.TCP, router.Forward{Port: p.external, Package: mf.ID, Interface: id, Target: p.internal})
			}
		}
		out = append(out, plan)
	}
	return out, nil
}

type lanPort struct {
	external, internal uint16
	ssl                bool
}

func score(p lanPort) int {
	switch {
	case p.ssl && p.external == 443:
		return 4
	case p.ssl:
		return 3
	case p.external == 80:
		return 2
	}
	return 1
}

func lanPorts(pkg, ifID string, in *manifest.Interface) ([]lanPort, error) {
	var out []lanPort
	for _, ext := range sortedKeys(in.LanConfig) {
		lc := in.LanConfig[ext]
		n, err := strconv.ParseUint(ext, 10, 16)
		if err != nil || n == 0 || lc == nil || lc.Internal == 0 {
			return nil, fmt.Errorf("package %s: interface %q: lan port %q: want a port number mapped to an internal port: %w", pkg, ifID, ext, errdefs.ErrInvalidRequest)
		}
		out = append(out, lanPort{external: uint16(n), internal: uint16(lc.Internal), ssl: lc.SSL})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].external < out[j].external })
	return out, nil
}

// Addresses are the URLs and host:ports of one interface, as the document
// and package.info carry them. httpsPort and httpPort are the router's
// ports (443 and 80 are left out of URLs).
func Addresses(in Interface, httpsPort, httpPort int, hostname string) model.InterfaceAddresses {
	a := model.InterfaceAddresses{LanAddress: in.Name}
	if in.HTTPPort != 0 {
		a.HTTPS = "https://" + in.Name + portSuffix(httpsPort, 443)
		if in.Plain && httpPort != 0 {
			a.HTTP = "http://" + in.Name + portSuffix(httpPort, 80)
		}
	}
	for _, f := range in.TCP {
		a.TCP = append(a.TCP, router.BoxName(hostname)+":"+strconv.Itoa(int(f.Port)))
	}
	return a
}

func portSuffix(port, dflt int) string {
	if port == dflt || port == 0 {
		return ""
	}
	return ":" + strconv.Itoa(port)
}

// CheckPorts refuses mf when a raw TCP port it forwards is already held by
// another package in d (installed or installing), naming both. An update of
// the same package never clashes with itself.
func CheckPorts(d *model.Document, mf *manifest.Manifest) error {
	want := rawPorts(mf)
	if len(want) == 0 {
		return nil
	}
	for _, other := range sortedKeys(d.Public.PackageData) {
		if other == mf.ID {
			continue
		}
		e := d.Public.PackageData[other]
		for _, raw := range [][]byte{e.StateInfo.Manifest, newManifest(&e)} {
			if len(raw) == 0 {
				continue
			}
			om, _, err := manifest.ParseArchived(raw)
			if err != nil {
				continue
			}
			held := rawPorts(om)
			for _, port := range sortedPorts(want) {
				if iface, ok := held[port]; ok {
					return fmt.Errorf("package %s: interface %q forwards TCP port %d, which package %s (interface %q) already holds on this box: %w",
						mf.ID, want[port], port, other, iface, errdefs.ErrInvalidRequest)
				}
			}
		}
	}
	return nil
}

func newManifest(e *model.PackageDataEntry) []byte {
	if e.StateInfo.InstallingInfo == nil {
		return nil
	}
	return e.StateInfo.InstallingInfo.NewManifest
}

// rawPorts maps each raw TCP box port of mf to its interface.
func rawPorts(mf *manifest.Manifest) map[uint16]string {
	out := map[uint16]string{}
	for id, in := range mf.Interfaces {
		if in == nil || IsHTTP(in) {
			continue
		}
		for ext := range in.LanConfig {
			if n, err := strconv.ParseUint(ext, 10, 16); err == nil && n != 0 {
				out[uint16(n)] = id
			}
		}
	}
	return out
}

func sortedPorts(m map[uint16]string) []uint16 {
	out := make([]uint16, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
