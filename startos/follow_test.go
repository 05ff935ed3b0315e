package startos

import (
	"testing"

	"github.com/startos-go/startos/startos/model"
)

// Only revisions that may change a follower's inputs cost it a pass.
func TestFollowerInputs(t *testing.T) {
	for _, tc := range []struct {
		path       string
		pkg, onLAN bool
	}{
		{"", true, true},
		{"/serverInfo", true, true},
		{"/serverInfo/hostname", true, true},
		{"/serverInfo/name", false, false},
		{"/serverInfo/network", false, true},
		{"/serverInfo/network/gateways/eth0", false, true},
		{"/serverInfo/network/host", false, false},
		{"/serverInfo/network/gatewaysX", false, false},
		{"/packageData", true, true},
		{"/packageData/hello", true, true},
		{"/packageData/hello/stateInfo", true, true},
		{"/packageData/hello/stateInfo/manifest", true, true},
		{"/packageData/hello/stateInfo/installingInfo", true, true},
		{"/packageData/hello/stateInfo/installingInfo/progress", false, false},
		{"/packageData/hello/stateInfo/installingInfo/progress/overall", false, false},
		{"/packageData/hello/interfaceAddresses/main/lanAddress", true, true},
		{"/packageData/hello/statusInfo/health/web", false, false},
		{"/packageData/hello/actions", false, false},
		{"/notifications/3", false, false},
	} {
		p := model.Patch{{Op: model.OpReplace, Path: tc.path}}
		if got := touches(p, packageInput); got != tc.pkg {
			t.Errorf("%q: package fields follower %v, want %v", tc.path, got, tc.pkg)
		}
		if got := touches(p, lanInput); got != tc.onLAN {
			t.Errorf("%q: LAN follower %v, want %v", tc.path, got, tc.onLAN)
		}
	}
	if !touches(model.Patch{{Op: model.OpMove, Path: "/x", From: "/packageData/a"}}, packageInput) {
		t.Error("a move from a package entry is not an input change")
	}
}
