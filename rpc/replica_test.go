package rpc

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/startos-go/startos/startos/model"
)

func TestReplicaApplyChecksRevisionOrder(t *testing.T) {
	r := &Replica{changed: make(chan struct{}, 1), rev: 5, doc: map[string]any{"a": json.Number("1")}}
	if err := r.apply(model.Revision{ID: 5}); err != nil || r.rev != 5 {
		t.Fatalf("old revision: %v", err)
	}
	if err := r.apply(model.Revision{ID: 7}); !errors.Is(err, errGap) {
		t.Fatalf("gap: %v", err)
	}
	p := model.Patch{{Op: "replace", Path: "/a", Value: json.RawMessage("2")}}
	if err := r.apply(model.Revision{ID: 6, Patch: p}); err != nil || r.rev != 6 {
		t.Fatalf("next: %v", err)
	}
	bad := model.Patch{{Op: "remove", Path: "/missing"}}
	if err := r.apply(model.Revision{ID: 7, Patch: bad}); !errors.Is(err, errBadPatch) || r.rev != 6 {
		t.Fatalf("bad patch: %v (rev %d)", err, r.rev)
	}
	b, _ := r.Value()
	if string(b) != `{"a":2}` {
		t.Fatalf("doc = %s", b)
	}
}
