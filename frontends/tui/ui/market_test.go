package ui

import (
	"strings"
	"testing"
)

const marketAnswer = `[
 {"id":"hello","version":"0.2.0","title":"Hello World","shortDescription":"Says hello","longDescription":"A longer text.","releaseNotes":"Now says hello twice.","categories":["tools"],"arch":["x86_64"],"size":1048576,"registry":"http://127.0.0.1:1","installed":"0.1.0","runs":true},
 {"id":"notes","version":"1.0.0","title":"Notes","shortDescription":"Keeps notes","releaseNotes":"First release.","categories":["data"],"arch":["x86_64"],"size":2048,"registry":"http://127.0.0.1:1","runs":true}
]`

func TestMarketplace(t *testing.T) {
	m, fb := newTestModel(t, 120, 30)
	fb.answers["package.search"] = marketAnswer
	fb.answers["marketplace.categories"] = `["data","tools"]`
	for _, msg := range run(press(m, "6")) {
		m.Update(msg)
	}
	screen := m.View()
	for _, want := range []string{"[6 Marketplace]", "Hello World", "↑ update 0.1.0 → 0.2.0", "Notes", "Category: all"} {
		if !strings.Contains(screen, want) {
			t.Errorf("marketplace screen lacks %q:\n%s", want, screen)
		}
	}
	// Details with release notes.
	press(m, "enter")
	if s := m.View(); !strings.Contains(s, "Release notes") || !strings.Contains(s, "Now says hello twice.") {
		t.Errorf("details:\n%s", s)
	}
	press(m, "esc", "down")
	// Install the package under the cursor: package.install by id.
	for _, msg := range run(press(m, "i")) {
		m.Update(msg)
	}
	found := false
	for _, c := range fb.calls {
		if c.Method == "package.install" && strings.Contains(c.Params, `"id":"notes"`) {
			found = true
		}
	}
	if !found {
		t.Errorf("no package.install of notes in %v", fb.calls)
	}
	// Search and category reach package.search.
	press(m, "/")
	typeText(m, "note")
	run(press(m, "enter"))
	if c := fb.lastCall(t); c.Method != "package.search" || !strings.Contains(c.Params, `"query":"note"`) {
		t.Errorf("search call %v", c)
	}
	run(press(m, "right"))
	if c := fb.lastCall(t); !strings.Contains(c.Params, `"category":"data"`) {
		t.Errorf("category call %v", c)
	}
	// Update all: package.updates then package.update of each.
	fb.answers["package.updates"] = `[{"id":"hello","title":"Hello World","installed":"0.1.0","version":"0.2.0","registry":"http://127.0.0.1:1"}]`
	run(press(m, "U"))
	if c := fb.lastCall(t); c.Method != "package.update" || !strings.Contains(c.Params, `"id":"hello"`) {
		t.Errorf("update all ended with %v", c)
	}
}
