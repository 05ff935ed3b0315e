package service

import (
	"slices"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/model"
)

// haltDoc makes a document of installed packages, each with a manifest
// declaring the given dependencies.
func haltDoc(t *testing.T, deps map[string][]string) *model.Document {
	t.Helper()
	d := &model.Document{}
	d.Public.PackageData = map[string]model.PackageDataEntry{}
	for id, ds := range deps {
		req := map[string]string{}
		for _, dep := range ds {
			req[dep] = ">=0.1.0"
		}
		mf, err := testpkg.NewManifest(testpkg.Options{ID: id, Requires: req})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := mf.MarshalArchived()
		if err != nil {
			t.Fatal(err)
		}
		d.Public.PackageData[id] = model.PackageDataEntry{StateInfo: model.StateInfo{State: model.PackageInstalled, Manifest: raw}}
	}
	return d
}

func TestHaltOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		deps map[string][]string
		want []string
	}{
		{"none", map[string][]string{}, []string{}},
		{"independent in id order", map[string][]string{"b": nil, "a": nil}, []string{"a", "b"}},
		{"dependent first", map[string][]string{"a": nil, "b": {"a"}}, []string{"b", "a"}},
		{"chain", map[string][]string{"a": nil, "b": {"a"}, "c": {"b"}}, []string{"c", "b", "a"}},
		{"two dependents", map[string][]string{"a": nil, "b": {"a"}, "c": {"a"}, "d": nil}, []string{"b", "c", "a", "d"}},
		{"missing dependency ignored", map[string][]string{"a": {"zz"}, "b": nil}, []string{"a", "b"}},
		{"cycle broken by id", map[string][]string{"a": {"b"}, "b": {"a"}, "c": {"a"}}, []string{"c", "a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := haltOrder(haltDoc(t, tc.deps))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("order %v, want %v", got, tc.want)
			}
		})
	}
}
