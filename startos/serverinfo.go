package startos

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	xssh "golang.org/x/crypto/ssh"

	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/net/router"
)

// PackageVersionCompat is serverInfo.packageVersionCompat: the StartOS
// versions whose packages (0.3 manifests) this box installs.
const PackageVersionCompat = ">=0.3.0:0 <=0.3.5.1:0"

// UISeed is what /public/ui starts as, StartOS's own seed
// (web/patchdb-ui-seed.json): the StartOS web UI keeps its marketplace
// list and display name here. These registries are the StartOS UI's
// preference, not the box's: the box's registries are registry.list.
const UISeed = `{
  "name": null,
  "registries": {
    "https://registry.start9.com/": "Start9 Registry",
    "https://community-registry.start9.com/": "Community Registry"
  },
  "startosRegistry": "https://registry.start9.com/",
  "snakeHighScore": 0
}`

// fillServerInfo sets what the running box knows of itself, at every open:
// StartOS's serverInfo fields with a meaning here filled, the others null
// or empty. It also seeds what a database made by an older build lacks (the
// ui seed's keys, the SSH identity) without touching what is already there.
func (s *Server) fillServerInfo(d *model.Document) error {
	info := &d.Public.ServerInfo
	info.PackageVersionCompat = PackageVersionCompat
	info.PasswordHash = "" // the hash lives in the private document only
	info.EchoipURLs = []string{}
	info.Kiosk = nil
	info.Keyboard = nil
	info.Devices = devices()
	info.Network.Gateways = gateways()
	if err := ensureSSHIdentity(d, info.Hostname); err != nil {
		return err
	}
	d.Public.UI = seedUI(d.Public.UI)
	return nil
}

// ensureSSHIdentity makes the box's SSH key once; serverInfo.pubkey always
// follows the private key.
func ensureSSHIdentity(d *model.Document, hostname string) error {
	if d.Private.SSHPrivkey == "" {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("ssh identity: %w", err)
		}
		block, err := xssh.MarshalPrivateKey(priv, "startos@"+hostname)
		if err != nil {
			return fmt.Errorf("ssh identity: %w", err)
		}
		d.Private.SSHPrivkey = string(pem.EncodeToMemory(block))
	}
	key, err := xssh.ParseRawPrivateKey([]byte(d.Private.SSHPrivkey))
	if err != nil {
		return fmt.Errorf("ssh identity: the stored key does not parse: %w", err)
	}
	priv, ok := key.(*ed25519.PrivateKey)
	if !ok {
		return fmt.Errorf("ssh identity: the stored key is a %T, not ed25519", key)
	}
	pub, err := xssh.NewPublicKey(priv.Public())
	if err != nil {
		return fmt.Errorf("ssh identity: %w", err)
	}
	d.Public.ServerInfo.Pubkey = strings.TrimSpace(string(xssh.MarshalAuthorizedKey(pub)))
	return nil
}

// seedUI adds the seed's top-level keys the ui lacks. A key a user or a
// client wrote (even null, even an emptied registry list) is kept; a ui
// that is not a JSON object is left alone.
func seedUI(ui json.RawMessage) json.RawMessage {
	cur := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(ui)) > 0 {
		if err := json.Unmarshal(ui, &cur); err != nil || cur == nil {
			return ui
		}
	}
	var seed map[string]json.RawMessage
	if err := json.Unmarshal([]byte(UISeed), &seed); err != nil {
		panic("startos: UISeed is not a JSON object: " + err.Error())
	}
	added := false
	for k, v := range seed {
		if _, ok := cur[k]; !ok {
			cur[k] = v
			added = true
		}
	}
	if !added {
		return ui
	}
	out, err := json.Marshal(cur)
	if err != nil {
		return ui
	}
	return out
}

// devices lists the processor from /proc/cpuinfo (one entry per distinct
// model, as lshw lists sockets). Capabilities stay empty: lshw's list is
// not what /proc/cpuinfo's flags are, and a long list would only grow
// the document.
func devices() []model.LshwDevice {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return []model.LshwDevice{}
	}
	out := []model.LshwDevice{}
	seen := map[string]bool{}
	var product, vendor string
	flush := func() {
		if product == "" && vendor == "" {
			return
		}
		if k := vendor + "\x00" + product; !seen[k] {
			seen[k] = true
			d := model.LshwDevice{Class: model.DeviceProcessor, Capabilities: []string{}}
			if product != "" {
				d.Product = ptrTo(product)
			}
			if vendor != "" {
				d.Vendor = ptrTo(vendor)
			}
			out = append(out, d)
		}
		product, vendor = "", ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name", "Model": // x86, arm
			product = strings.TrimSpace(v)
		case "vendor_id", "CPU implementer":
			vendor = strings.TrimSpace(v)
		}
	}
	flush()
	return out
}

// gateways are the box's own network interfaces that are up and have an
// address, keyed by name: loopback and the container engine's bridges and
// veths (docker*, br-*, veth*) are not the box's network.
func gateways() map[string]model.NetworkInterfaceInfo {
	out := map[string]model.NetworkInterfaceInfo{}
	ifs, err := net.Interfaces()
	if err != nil {
		return out
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || engineOwned(ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil || len(addrs) == 0 {
			continue
		}
		ip := model.IPInfo{Name: ifc.Name, ScopeID: uint32(ifc.Index), Subnets: []string{}, LanIP: []string{},
			NTPServers: []string{}, DNSServers: []string{}}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip.Subnets = append(ip.Subnets, n.String())
			ip.LanIP = append(ip.LanIP, n.IP.String())
		}
		sort.Strings(ip.Subnets)
		sort.Strings(ip.LanIP)
		if t := deviceType(ifc.Name); t != "" {
			ip.DeviceType = &t
		}
		name := ifc.Name
		out[name] = model.NetworkInterfaceInfo{Name: &name, IPInfo: &ip}
	}
	return out
}

func engineOwned(name string) bool {
	for _, p := range []string{"docker", "br-", "veth"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// deviceType is StartOS's NetworkInterfaceType as sysfs tells it; "" when
// it cannot tell.
func deviceType(name string) string {
	sys := filepath.Join("/sys/class/net", name)
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(sys, p)); return err == nil }
	switch {
	case exists("wireless"):
		return "wireless"
	case exists("bridge"):
		return "bridge"
	case strings.HasPrefix(name, "wg"):
		return "wireguard"
	case exists("device"):
		return "ethernet"
	}
	return ""
}

// boxHost is serverInfo.network.host: the box's own surface, served by
// the LAN router over TLS at <hostname>.local on httpsPort.
func boxHost(hostname string, httpsPort int, gws []string) model.Host {
	port := uint16(httpsPort)
	h := model.Host{Bindings: map[string]model.BindInfo{
		"80": {
			Enabled: true,
			Options: model.BindOptions{PreferredExternalPort: 80, AddSSL: &model.AddSSLOptions{
				PreferredExternalPort: 443, ALPN: json.RawMessage(`{"specified":["h2","http/1.1"]}`)}},
			Net: model.NetInfo{AssignedSSLPort: &port},
			Addresses: model.DerivedAddressInfo{Available: []model.HostnameInfo{{
				SSL: true, Hostname: router.BoxName(hostname), Port: &port,
				Metadata: model.HostnameMetadata{Kind: "mdns", Gateways: gws},
			}}},
		},
	}}
	h.Normalize()
	return h
}

func gatewayNames(m map[string]model.NetworkInterfaceInfo) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func ptrTo[T any](v T) *T { return &v }
