package container

import (
	"errors"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
)

// Options that hand a container the host are refused before the engine
// sees them.
func TestCheckSpec(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Spec
		ok   bool
	}{
		{"package network", Spec{Network: "startos-x"}, true},
		{"no network", Spec{Network: "none"}, true},
		{"host network", Spec{Network: "host"}, false},
		{"another container's network", Spec{Network: "container:startos.x"}, false},
		{"volume folder", Spec{Mounts: []Mount{{Source: "/var/lib/startos/volumes/x/main", Target: "/data"}}}, true},
		{"host root", Spec{Mounts: []Mount{{Source: "/", Target: "/host"}}}, false},
		{"unclean source", Spec{Mounts: []Mount{{Source: "/var/lib/startos/volumes/x/../../../..", Target: "/data"}}}, false},
		{"relative source", Spec{Mounts: []Mount{{Source: "volumes/x", Target: "/data"}}}, false},
		{"relative target", Spec{Mounts: []Mount{{Source: "/srv/x", Target: "data"}}}, false},
	} {
		err := checkSpec(tc.s)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errdefs.ErrInvalidRequest)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
