package lan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

func mf(id string, ifaces map[string]*manifest.Interface) *manifest.Manifest {
	return &manifest.Manifest{ID: id, Interfaces: ifaces}
}

func TestInterfacesAndAddresses(t *testing.T) {
	m := mf("hello", map[string]*manifest.Interface{
		"main": {Protocols: []string{"tcp", "http"}, LanConfig: map[string]*manifest.LanPortConfig{
			"80": {Internal: 8080}, "443": {SSL: true, Internal: 8443}}},
		"tls-only": {LanConfig: map[string]*manifest.LanPortConfig{"443": {SSL: true, Internal: 3000}}},
		"peer":     {Protocols: []string{"tcp"}, LanConfig: map[string]*manifest.LanPortConfig{"9735": {Internal: 9735}}},
		"tor-only": {Protocols: []string{"tcp", "http"}},
	})
	got, err := Interfaces(m, "box")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d interfaces, want 3 (tor-only has no lan ports): %+v", len(got), got)
	}
	by := map[string]Interface{}
	for _, in := range got {
		by[in.ID] = in
	}
	for _, tc := range []struct {
		id    string
		want  model.InterfaceAddresses
		port  uint16
		plain bool
	}{
		{"main", model.InterfaceAddresses{LanAddress: "main-hello-box.local", HTTPS: "https://main-hello-box.local:8443", HTTP: "http://main-hello-box.local"}, 8443, true},
		{"tls-only", model.InterfaceAddresses{LanAddress: "tls-only-hello-box.local", HTTPS: "https://tls-only-hello-box.local:8443"}, 3000, false},
		{"peer", model.InterfaceAddresses{LanAddress: "peer-hello-box.local", TCP: []string{"box.local:9735"}}, 0, false},
	} {
		in := by[tc.id]
		a := Addresses(in, 8443, 80, "box")
		if a.LanAddress != tc.want.LanAddress || a.HTTPS != tc.want.HTTPS || a.HTTP != tc.want.HTTP || strings.Join(a.TCP, ",") != strings.Join(tc.want.TCP, ",") {
			t.Errorf("%s: %+v, want %+v", tc.id, a, tc.want)
		}
		if in.HTTPPort != tc.port || in.Plain != tc.plain {
			t.Errorf("%s: backend port %d plain %v", tc.id, in.HTTPPort, in.Plain)
		}
	}
	if _, err := Interfaces(mf("x", map[string]*manifest.Interface{"main": {LanConfig: map[string]*manifest.LanPortConfig{"http": {Internal: 80}}}}), "box"); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Errorf("bad port key: %v", err)
	}
}

func TestCheckPortsNamesBoth(t *testing.T) {
	// A valid archived manifest, as the document holds it.
	holder, err := testpkg.NewManifest(testpkg.Options{ID: "lnd", TCPPort: 9735})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(holder)
	if _, _, err := manifest.ParseArchived(raw); err != nil {
		t.Fatal(err)
	}
	doc := &model.Document{Public: model.PublicDocument{PackageData: map[string]model.PackageDataEntry{
		"lnd": {StateInfo: model.StateInfo{State: model.PackageInstalled, Manifest: raw}},
	}}}
	for _, tc := range []struct {
		name string
		m    *manifest.Manifest
		ok   bool
	}{
		{"same raw port", mf("cln", map[string]*manifest.Interface{"p2p": {Protocols: []string{"tcp"}, LanConfig: map[string]*manifest.LanPortConfig{"9735": {Internal: 1}}}}), false},
		{"same port but a web site", mf("web", map[string]*manifest.Interface{"main": {LanConfig: map[string]*manifest.LanPortConfig{"9735": {Internal: 1}}}}), true},
		{"update of the holder", holder, true},
		{"other port", mf("btc", map[string]*manifest.Interface{"p2p": {Protocols: []string{"tcp"}, LanConfig: map[string]*manifest.LanPortConfig{"8333": {Internal: 8333}}}}), true},
	} {
		err := CheckPorts(doc, tc.m)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "lnd") || !strings.Contains(err.Error(), tc.m.ID) || !strings.Contains(err.Error(), "9735")) {
			t.Errorf("%s: the error must name both packages and the port: %v", tc.name, err)
		}
	}
}
