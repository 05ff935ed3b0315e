package testpkg

import (
	"errors"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
)

// TestNewManifest: each option lands in the manifest it describes, and a
// bad one is refused by name.
func TestNewManifest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     Options
		check func(t *testing.T, o Options)
	}{
		{"defaults", Options{}, func(t *testing.T, _ Options) {
			m, _ := NewManifest(Options{ID: "testpkg-a"})
			if m.Version.String() != "0.1.0" || m.Main.Entrypoint != "/app" || m.Migrations.From != nil ||
				m.Interfaces["main"].LanConfig != nil || m.Volumes["static"] != nil || m.Actions["hello"] == nil {
				t.Errorf("defaults: %+v", m)
			}
		}},
		{"port, entrypoint, version", Options{ID: "testpkg-b", Version: "0.2.0", Port: 4242, Entrypoint: "/nope"}, func(t *testing.T, o Options) {
			m, _ := NewManifest(o)
			if m.Version.String() != "0.2.0" || m.Main.Entrypoint != "/nope" || m.Interfaces["main"].LanConfig["4242"] == nil {
				t.Errorf("%+v", m)
			}
		}},
		{"migration, requires, RAM, assets, extra", Options{ID: "testpkg-c", MigrationFrom: "<0.2.0", MigrationMode: "fail",
			Requires: map[string]string{"bitcoind": ">=25.0.0"}, RAM: 1 << 30, Assets: map[string]string{"a.txt": "a"},
			Extra: "alerts:\n  install: Hello\n"}, func(t *testing.T, o Options) {
			m, err := NewManifest(o)
			if err != nil {
				t.Fatal(err)
			}
			mig := m.Migrations.From["<0.2.0"]
			if mig == nil || len(mig.Args) != 1 || mig.Args[0] != "fail" {
				t.Errorf("migration %+v", m.Migrations)
			}
			if d := m.Dependencies["bitcoind"]; d == nil || d.Version.String() != ">=25.0.0" {
				t.Errorf("dependencies %+v", m.Dependencies)
			}
			if m.HardwareRequirements.RAM != 1<<30 || m.Volumes["static"] == nil {
				t.Errorf("ram %d, volumes %+v", m.HardwareRequirements.RAM, m.Volumes)
			}
			if m.Alerts.Install != "Hello" {
				t.Errorf("extra keys: alerts %+v", m.Alerts)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, tc.o) })
	}
	if a, b := RandomID(), RandomID(); a == b || !strings.HasPrefix(a, "testpkg-") {
		t.Errorf("random ids %q %q", a, b)
	}
	_, err := NewManifest(Options{MigrationFrom: "*", MigrationMode: "explode"})
	if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), `"explode"`) {
		t.Errorf("bad migration mode: %v", err)
	}
}
