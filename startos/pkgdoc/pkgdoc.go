// Package pkgdoc derives the StartOS 0.4 fields of packageData.<id> that
// StartOS's own packages declare at run time (actions, serviceInterfaces,
// hosts) from what a 0.3 manifest says and where the LAN router serves
// each interface, so a client written for StartOS finds them.
package pkgdoc

import (
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"

	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/net/lan"
)

// Derived is what Derive computes for one package.
type Derived struct {
	Actions           map[string]model.ActionMetadata
	ServiceInterfaces map[string]model.ServiceInterface
	Hosts             map[string]model.Host
}

// Apply writes d into e and reports whether anything changed (compared as
// the document encodes them).
func (d Derived) Apply(e *model.PackageDataEntry) bool {
	changed := false
	if !sameJSON(e.Actions, d.Actions) {
		e.Actions, changed = d.Actions, true
	}
	if !sameJSON(e.ServiceInterfaces, d.ServiceInterfaces) {
		e.ServiceInterfaces, changed = d.ServiceInterfaces, true
	}
	if !sameJSON(e.Hosts, d.Hosts) {
		e.Hosts, changed = d.Hosts, true
	}
	return changed
}

// Differs reports whether e's fields are not d's; it only reads e.
func (d Derived) Differs(e *model.PackageDataEntry) bool {
	return !sameJSON(e.Actions, d.Actions) || !sameJSON(e.ServiceInterfaces, d.ServiceInterfaces) || !sameJSON(e.Hosts, d.Hosts)
}

func sameJSON(a, b any) bool {
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(x) == string(y)
}

// Derive computes the fields from the manifest and the interface
// addresses the LAN reconcile recorded (nil when the LAN router is not
// running: the bindings are then listed without addresses).
func Derive(mf *manifest.Manifest, hostname string, addrs map[string]model.InterfaceAddresses) Derived {
	d := Derived{Actions: Actions(mf), ServiceInterfaces: map[string]model.ServiceInterface{}, Hosts: map[string]model.Host{}}
	plans := map[string]lan.Interface{}
	if ifs, err := lan.Interfaces(mf, hostname); err == nil { // a bad lan-config was refused at install
		for _, p := range ifs {
			plans[p.ID] = p
		}
	}
	for _, id := range sortedKeys(mf.Interfaces) {
		in := mf.Interfaces[id]
		if in == nil {
			continue
		}
		plan, onLAN := plans[id]
		si, host := iface(id, in, plan, onLAN, addrs[id])
		d.ServiceInterfaces[id] = si
		d.Hosts[id] = host
	}
	return d
}

// Actions maps a 0.3 manifest's actions to ActionMetadata: every action is
// enabled, ungrouped; allowed-statuses [running] is "only-running",
// [stopped] "only-stopped", both "any".
func Actions(mf *manifest.Manifest) map[string]model.ActionMetadata {
	out := map[string]model.ActionMetadata{}
	for id, a := range mf.Actions {
		if a == nil {
			continue
		}
		m := model.ActionMetadata{Name: a.Name, Description: a.Description,
			Visibility: json.RawMessage(`"enabled"`), AllowedStatuses: allowed(a.AllowedStatuses), HasInput: len(a.InputSpec) > 0}
		if a.Warning != "" {
			w := a.Warning
			m.Warning = &w
		}
		out[id] = m
	}
	return out
}

func allowed(st []string) string {
	run, stop := slices.Contains(st, "running"), slices.Contains(st, "stopped")
	switch {
	case run && !stop:
		return model.AllowedOnlyRunning
	case stop && !run:
		return model.AllowedOnlyStopped
	}
	return model.AllowedAny
}

// iface is one interface's ServiceInterface and its Host (one host per
// interface, keyed by the interface id, as StartOS's 0.3 adapter does).
// The binding is the container port the LAN router reaches: the web
// site's backend, or each raw TCP port's target.
func iface(id string, in *manifest.Interface, plan lan.Interface, onLAN bool, a model.InterfaceAddresses) (model.ServiceInterface, model.Host) {
	si := model.ServiceInterface{ID: id, Name: in.Name, Description: in.Description,
		AddressInfo: model.AddressInfo{HostID: id}, Type: model.InterfaceAPI}
	if in.UI {
		si.Type = model.InterfaceUI
	}
	if in.IsHTTP() {
		si.AddressInfo.Scheme, si.AddressInfo.SSLScheme = ptr("http"), ptr("https")
	}
	host := model.Host{Bindings: map[string]model.BindInfo{}}
	switch {
	case onLAN && plan.HTTPPort != 0:
		si.AddressInfo.InternalPort = plan.HTTPPort
		b := model.BindInfo{Enabled: true, Options: model.BindOptions{PreferredExternalPort: 80,
			AddSSL: &model.AddSSLOptions{PreferredExternalPort: 443, AddXForwardedHeaders: true, ALPN: json.RawMessage("null")}}}
		if u := hostPort(a.HTTPS, 443); u != nil {
			b.Net.AssignedSSLPort = u.Port
			b.Addresses.Available = append(b.Addresses.Available, *u)
		}
		if u := hostPort(a.HTTP, 80); u != nil {
			b.Net.AssignedPort = u.Port
			b.Addresses.Available = append(b.Addresses.Available, *u)
		}
		host.Bindings[strconv.Itoa(int(plan.HTTPPort))] = b
	case onLAN && len(plan.TCP) > 0:
		si.AddressInfo.InternalPort = plan.TCP[0].Target
		for _, f := range plan.TCP {
			ext := f.Port
			b := model.BindInfo{Enabled: true, Options: model.BindOptions{PreferredExternalPort: ext},
				Net: model.NetInfo{AssignedPort: &ext}}
			for _, t := range a.TCP {
				if h, port, err := net.SplitHostPort(t); err == nil && port == strconv.Itoa(int(ext)) {
					b.Addresses.Available = append(b.Addresses.Available, model.HostnameInfo{Hostname: h, Port: &ext,
						Metadata: model.HostnameMetadata{Kind: "mdns", Gateways: []string{}}})
				}
			}
			host.Bindings[strconv.Itoa(int(f.Target))] = b
		}
	case in.TorConfig != nil:
		// Not served on the LAN; its container port is still named.
		for _, k := range sortedKeys(in.TorConfig.PortMapping) {
			si.AddressInfo.InternalPort = uint16(in.TorConfig.PortMapping[k])
			break
		}
	}
	host.Normalize()
	return si, host
}

// hostPort turns a URL the LAN reconcile recorded into a HostnameInfo.
func hostPort(raw string, dflt uint16) *model.HostnameInfo {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	port := dflt
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil
		}
		port = uint16(n)
	}
	return &model.HostnameInfo{SSL: u.Scheme == "https", Hostname: u.Hostname(), Port: &port,
		Metadata: model.HostnameMetadata{Kind: "mdns", Gateways: []string{}}}
}

func ptr[T any](v T) *T { return &v }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
