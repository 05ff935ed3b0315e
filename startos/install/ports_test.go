package install

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/net/lan"
)

// Port rules, through a real sideload: a raw TCP forward on a privileged
// port, the daemon's own port or a port another package forwards is refused
// at the install's preflight, and nothing is left behind; HTTP ports may
// repeat between packages (the LAN router serves them by name).
func TestPortRefusals(t *testing.T) {
	daemonPort := testpkg.FreePort(t)
	e := newEnv(t, func(o *Options) { o.ReservedPorts, o.Preflight = []uint16{daemonPort}, lan.CheckPorts })
	taken := testpkg.FreePort(t)
	first := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: first, Version: "0.1.0", Port: 443, TCPPort: taken}))
	e.mustSideload(e.pkg(testpkg.Options{ID: testID(), Version: "0.1.0", Port: 443}))
	for _, tc := range []struct {
		name     string
		port     uint16
		contains string
	}{
		{"privileged", 80, "TCP port 80 is privileged"},
		{"the daemon's", daemonPort, "TCP port " + strconv.Itoa(int(daemonPort)) + " is the daemon's own"},
		{"another package's", taken, "TCP port " + strconv.Itoa(int(taken)) + ", which package " + first},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := testID()
			err := e.sideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0", TCPPort: tc.port}))
			if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("got %v, want it to say %q", err, tc.contains)
			}
			e.assertPristine(id, "0.1.0")
		})
	}
}

// The bounds on how many ports one package and all packages publish.
func TestPortBounds(t *testing.T) {
	e := newEnv(t, nil)
	withPorts := func(id string, from, n int) *manifest.Manifest {
		t.Helper()
		m, err := testpkg.NewManifest(testpkg.Options{ID: id, Port: uint16(from)})
		if err != nil {
			t.Fatal(err)
		}
		for p := from + 1; p < from+n; p++ {
			m.Interfaces["main"].LanConfig[strconv.Itoa(p)] = &manifest.LanPortConfig{Internal: 8080}
		}
		return m
	}
	if err := e.in.checkPorts(withPorts("many", 20000, MaxPortsPerPackage+1)); !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "the limit is 16 per package") {
		t.Errorf("too many ports in one package: %v", err)
	}
	if err := e.in.checkPorts(withPorts("enough", 20000, MaxPortsPerPackage)); err != nil {
		t.Errorf("a package at the limit: %v", err)
	}
	// Installed packages already publishing the total.
	_, err := e.store.Mutate(context.Background(), func(d *model.Document) error {
		if d.Public.PackageData == nil {
			d.Public.PackageData = map[string]model.PackageDataEntry{}
		}
		for i := 0; i < MaxPublishedPorts/MaxPortsPerPackage; i++ {
			id := "full-" + strconv.Itoa(i)
			b, err := withPorts(id, 30000+i*100, MaxPortsPerPackage).MarshalArchived()
			if err != nil {
				return err
			}
			d.Public.PackageData[id] = model.PackageDataEntry{StateInfo: model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(b)}}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.in.checkPorts(withPorts("one-more", 20000, 1)); !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "the limit is 128") {
		t.Errorf("past the total: %v", err)
	}
}
