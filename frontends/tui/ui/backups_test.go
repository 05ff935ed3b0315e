package ui

import (
	"errors"
	"strings"
	"testing"

	"github.com/startos-go/startos/frontends/tui/live"
)

// The Backups view's calls carry what was typed; a refused password keeps
// the form open with the box's words; a restore of a package that is not
// installed (its title unknown until it is) still clears its line when it
// ends; the password is dropped when the snapshot list closes.
func TestBackupsFlow(t *testing.T) {
	m, fb := newTestModel(t, 100, 30)
	fb.answers["backup.target.list"] = backupTargetsJSON
	feed(m, press(m, "5"))
	mustContain(t, m.View(), "USB disk", "offsite", "never backed up")

	feed(m, press(m, "a"))
	typeText(m, "NAS")
	press(m, "enter")
	typeText(m, "rest:http://127.0.0.1:8000/")
	feed(m, press(m, "enter"))
	if !m.backups.loading {
		t.Fatal("after adding, the list is not fetched again")
	}
	found := false
	for _, c := range fb.calls {
		found = found || c.Method == "backup.target.add" && c.Params == `{"name":"NAS","url":"rest:http://127.0.0.1:8000/"}`
	}
	if !found {
		t.Fatalf("no backup.target.add with the typed values: %+v", fb.calls)
	}
	mustContain(t, m.View(), "Added the target NAS")

	fb.errs["backup.create"] = errors.New("incorrect password (7)")
	press(m, "b")
	typeText(m, "wrong")
	feed(m, press(m, "enter"))
	mustContain(t, m.View(), "Back up to USB disk", "incorrect password (7)")
	press(m, "esc")
	delete(fb.errs, "backup.create")

	fb.answers["backup.target.info"] = `{"snapshots":[{"id":"a2","time":"2026-01-02T02:58:00Z","kind":"package","packageId":"gone","version":"1.0.0","run":"r2"}]}`
	press(m, "enter")
	typeText(m, "backup pw")
	feed(m, press(m, "enter"))
	mustContain(t, m.View(), "Snapshots in USB disk (1)", "gone 1.0.0")
	press(m, "r")
	mustContain(t, m.View(), "Restore gone?", "not installed")
	cmd := press(m, "y")
	mustContain(t, m.View(), "Restoring gone…")
	// The package comes back (with a title) before the restore call ends.
	st := fixtureState()
	e := st.Doc.PackageData["hello-world"]
	st.Doc.PackageData["gone"] = e
	st.Manifests["gone"] = &live.Manifest{ID: "gone", Title: "Gone App", Version: "1.0.0"}
	m.Update(LiveMsg{Update: live.Update{State: st}})
	feed(m, cmd)
	if c := fb.lastCall(t); c.Method != "package.backup.restore" || !strings.Contains(c.Params, `"password":"backup pw"`) || !strings.Contains(c.Params, `"snapshot":"a2"`) {
		t.Fatalf("restore call: %+v", c)
	}
	mustNotContain(t, m.View(), "Restoring")
	press(m, "esc")
	if m.backups.password != "" || m.backups.snapsOf != "" {
		t.Fatal("the password outlives the snapshot list")
	}
}
