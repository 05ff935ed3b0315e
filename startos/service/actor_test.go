package service

import (
	"testing"

	"github.com/startos-go/startos/startos/model"
)

// TestTouchesMoreThanHealth: an actor is kicked by statusInfo patches
// except those that only record health results.
func TestTouchesMoreThanHealth(t *testing.T) {
	for _, tc := range []struct {
		name  string
		patch model.Patch
		kick  bool
	}{
		{"empty", nil, false},
		{"one result", model.Patch{{Op: model.OpReplace, Path: "/health/main"}}, false},
		{"all results", model.Patch{{Op: model.OpReplace, Path: "/health"}}, false},
		{"desired", model.Patch{{Op: model.OpReplace, Path: "/desired"}}, true},
		{"a result and started", model.Patch{{Op: model.OpReplace, Path: "/health/main"}, {Op: model.OpAdd, Path: "/started"}}, true},
		{"whole statusInfo", model.Patch{{Op: model.OpReplace, Path: ""}}, true},
		{"a sibling named like health", model.Patch{{Op: model.OpAdd, Path: "/healthy"}}, true},
	} {
		if got := touchesMoreThanHealth(tc.patch); got != tc.kick {
			t.Errorf("%s: touchesMoreThanHealth = %v, want %v", tc.name, got, tc.kick)
		}
	}
}
