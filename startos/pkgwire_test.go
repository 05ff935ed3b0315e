package startos

import (
	"testing"

	"github.com/startos-go/startos/startos/model"
)

// Only revisions that may change the derived fields' inputs cost a pass.
func TestTouchesDerivedInputs(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"", true},
		{"/serverInfo", true},
		{"/serverInfo/hostname", true},
		{"/serverInfo/name", false},
		{"/packageData", true},
		{"/packageData/hello", true},
		{"/packageData/hello/stateInfo", true},
		{"/packageData/hello/stateInfo/manifest", true},
		{"/packageData/hello/stateInfo/installingInfo/progress", true},
		{"/packageData/hello/interfaceAddresses/main/lanAddress", true},
		{"/packageData/hello/statusInfo/health/web", false},
		{"/packageData/hello/actions", false},
		{"/notifications/3", false},
	} {
		if got := touchesDerivedInputs(model.Patch{{Op: model.OpReplace, Path: tc.path}}); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.path, got, tc.want)
		}
	}
	if !touchesDerivedInputs(model.Patch{{Op: model.OpMove, Path: "/x", From: "/packageData/a"}}) {
		t.Error("a move from a package entry is not an input change")
	}
}
