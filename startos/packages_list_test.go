package startos

import (
	"context"
	"testing"

	"github.com/startos-go/startos/startos/model"
)

// package.list is cached per revision: each mutation shows in the next
// listing, and a caller editing its listing changes no one else's.
func TestPackagesFollowsEveryRevision(t *testing.T) {
	ctx := context.Background()
	s, err := open(t, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list := func() []model.PackageSummary {
		t.Helper()
		l, err := s.Packages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := list(); len(l) != 0 {
		t.Fatalf("a new box lists %v", l)
	}
	steps := []struct {
		name  string
		apply func(*model.Document)
		want  string // status of "a"
	}{
		{"installed, stopped", func(d *model.Document) {
			d.Public.PackageData["a"] = model.PackageDataEntry{StateInfo: model.StateInfo{State: model.PackageInstalled,
				Manifest: []byte(`{"id":"a","title":"A","version":"1.0.0"}`)}}
		}, model.DesiredStopped},
		{"desired running", func(d *model.Document) {
			e := d.Public.PackageData["a"]
			e.StatusInfo.Desired.Main = model.DesiredRunning
			d.Public.PackageData["a"] = e
		}, model.StatusStarting},
		{"removing", func(d *model.Document) {
			e := d.Public.PackageData["a"]
			e.StateInfo.State = model.PackageRemoving
			d.Public.PackageData["a"] = e
		}, string(model.PackageRemoving)},
	}
	for _, st := range steps {
		if _, err := s.db.Mutate(ctx, func(d *model.Document) error { st.apply(d); return nil }); err != nil {
			t.Fatal(err)
		}
		l := list()
		if len(l) != 1 || l[0].ID != "a" || l[0].Primary != st.want {
			t.Fatalf("%s: listed %+v, want a %s", st.name, l, st.want)
		}
		l[0].Primary = "edited by a caller"
		if again := list(); again[0].Primary != st.want {
			t.Fatalf("%s: a caller's edit reached the next listing: %+v", st.name, again)
		}
	}
}
