package ui

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

func TestGlobalKeys(t *testing.T) {
	cases := []struct {
		keys []string
		tab  tab
	}{
		{[]string{"2"}, tabServices},
		{[]string{"3"}, tabLogs},
		{[]string{"4"}, tabNotifications},
		{[]string{"4", "1"}, tabDashboard},
		{[]string{"tab"}, tabServices},
		{[]string{"5"}, tabBackups},
		{[]string{"6"}, tabMarket},
		{[]string{"tab", "tab", "tab", "tab"}, tabBackups},
		{[]string{"tab", "tab", "tab", "tab", "tab"}, tabMarket},
		{[]string{"7"}, tabSettings},
		{[]string{"tab", "tab", "tab", "tab", "tab", "tab"}, tabSettings},
		{[]string{"tab", "tab", "tab", "tab", "tab", "tab", "tab"}, tabDashboard},
		{[]string{"shift+tab"}, tabSettings},
		{[]string{"3", "shift+tab"}, tabServices},
	}
	for _, c := range cases {
		m, _ := newTestModel(t, 80, 24)
		press(m, c.keys...)
		if m.tab != c.tab {
			t.Errorf("%v: tab %v, want %v", c.keys, m.tab, c.tab)
		}
	}
}

func TestQuitKeys(t *testing.T) {
	m, _ := newTestModel(t, 80, 24)
	if !isQuit(press(m, "q")) {
		t.Error("q does not quit")
	}
	// ctrl+c quits even while typing or in a modal; q is text there.
	m, _ = newTestModel(t, 80, 24)
	press(m, "2", "/")
	if isQuit(press(m, "q")) {
		t.Error("q quit while typing a filter")
	}
	if !isQuit(press(m, "ctrl+c")) {
		t.Error("ctrl+c does not quit while typing")
	}
	press(m, "esc", "i")
	if _, ok := m.modal.(*installModal); !ok {
		t.Fatalf("i opened %T", m.modal)
	}
	if !isQuit(press(m, "ctrl+c")) {
		t.Error("ctrl+c does not quit in a modal")
	}
}

func TestHelpListsEveryKey(t *testing.T) {
	m, _ := newTestModel(t, 120, 40)
	press(m, "?")
	if _, ok := m.modal.(*helpModal); !ok {
		t.Fatalf("? opened %T", m.modal)
	}
	view := m.View()
	for _, g := range helpGroups() {
		for _, b := range g.keys {
			mustContain(t, view, b.Help().Key, b.Help().Desc)
		}
	}
	press(m, "esc")
	if m.modal != nil {
		t.Fatal("esc did not close help")
	}
	press(m, "?", "?")
	if m.modal != nil {
		t.Fatal("? did not close help")
	}
}

func TestServicesListNavigation(t *testing.T) {
	m, _ := newTestModel(t, 80, 24)
	press(m, "2")
	// Sorted by title: Bitcoin Core, File Browser, Hello World, LND, Nextcloud.
	steps := []struct {
		key  string
		want string
	}{
		{"down", "filebrowser"}, {"j", "hello-world"}, {"k", "filebrowser"}, {"up", "bitcoind"},
		{"up", "bitcoind"}, {"G", "nextcloud"}, {"g", "bitcoind"}, {"end", "nextcloud"}, {"home", "bitcoind"},
		{"pgdown", "nextcloud"}, {"pgup", "bitcoind"},
	}
	for _, s := range steps {
		press(m, s.key)
		if m.services.selected != s.want {
			t.Fatalf("after %q: selected %q, want %q", s.key, m.services.selected, s.want)
		}
	}
	press(m, "j", "j", "enter")
	if m.services.open != "hello-world" {
		t.Fatalf("enter opened %q", m.services.open)
	}
	press(m, "esc")
	if m.services.open != "" {
		t.Fatal("esc did not go back to the list")
	}
}

func TestServicesFilter(t *testing.T) {
	m, _ := newTestModel(t, 80, 24)
	press(m, "2", "/")
	if !m.services.filtering {
		t.Fatal("/ did not start the filter")
	}
	typeText(m, "hel")
	if ids := m.visibleIDs(); len(ids) != 1 || ids[0] != "hello-world" {
		t.Fatalf("filter hel shows %v", ids)
	}
	press(m, "enter")
	if m.services.filtering || m.services.filter.Value() != "hel" {
		t.Fatal("enter should keep the filter and stop typing")
	}
	mustContain(t, m.View(), "Hello World", "/ hel")
	mustNotContain(t, m.View(), "Bitcoin Core")
	press(m, "enter") // opens the only match
	if m.services.open != "hello-world" {
		t.Fatalf("enter on the filtered list opened %q", m.services.open)
	}
	press(m, "esc", "esc") // back, then clear the filter
	if m.services.filter.Value() != "" || len(m.visibleIDs()) != 5 {
		t.Fatal("esc did not clear the filter")
	}
	press(m, "/")
	typeText(m, "zzz")
	mustContain(t, m.View(), "Nothing matches")
	press(m, "esc")
	if m.services.filtering || m.services.filter.Value() != "" {
		t.Fatal("esc while typing should clear and stop")
	}
}

func TestServiceControlCalls(t *testing.T) {
	cases := []struct {
		keys   []string
		method string
		params string
		words  string
	}{
		{[]string{"s"}, "package.start", `{"id":"hello-world"}`, "Starting"},
		{[]string{"t"}, "package.stop", `{"id":"hello-world"}`, "Stopping"},
		{[]string{"r"}, "package.restart", `{"id":"hello-world"}`, "Restarting"},
		{[]string{"u", "y"}, "package.uninstall", `{"id":"hello-world"}`, "Uninstalling"},
		{[]string{"u", "k"}, "package.uninstall", `{"id":"hello-world","soft":true}`, "Uninstalling"},
	}
	for _, onPage := range []bool{false, true} {
		for _, c := range cases {
			m, fb := newTestModel(t, 80, 24)
			press(m, "2", "j", "j") // hello-world
			if onPage {
				press(m, "enter")
			}
			msgs := feed(m, press(m, c.keys...))
			got := fb.lastCall(t)
			if got.Method != c.method || got.Params != c.params {
				t.Errorf("page=%v %v: called %s %s, want %s %s", onPage, c.keys, got.Method, got.Params, c.method, c.params)
			}
			if len(msgs) != 1 {
				t.Fatalf("%v: %d messages", c.keys, len(msgs))
			}
			if _, ok := msgs[0].(controlDoneMsg); !ok {
				t.Fatalf("%v: message %T", c.keys, msgs[0])
			}
			mustContain(t, m.View(), c.words+" Hello World…")
		}
	}
}

func TestUninstallConfirmation(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	press(m, "2", "j", "j", "u")
	c, ok := m.modal.(*confirmModal)
	if !ok {
		t.Fatalf("u opened %T", m.modal)
	}
	if !strings.Contains(c.body, "deletes every greeting") {
		t.Fatalf("the manifest's uninstall alert is not shown: %q", c.body)
	}
	for _, k := range []string{"x", "enter"} { // not an answer: still asking
		press(m, k)
		if m.modal == nil {
			t.Fatalf("%q closed the confirmation", k)
		}
	}
	press(m, "n")
	if m.modal != nil || fb.callCount() != 0 {
		t.Fatalf("n should cancel without a call; modal %T, %d calls", m.modal, fb.callCount())
	}
	press(m, "u", "esc")
	if m.modal != nil || fb.callCount() != 0 {
		t.Fatal("esc should cancel without a call")
	}
}

func TestControlErrorShown(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	fb.errs["package.start"] = &rpc.Error{Code: rpc.CodeMethodNotFound, Message: "Method Not Found"}
	press(m, "2")
	feed(m, press(m, "s"))
	mustContain(t, m.View(), "could not start Bitcoin Core: -32601: Method Not Found")
}

func TestStartAlertAsksFirst(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	st := fixtureState()
	st.Manifests["filebrowser"].Alerts.Start = "Starting shares your files."
	m.Update(LiveMsg{Update: live.Update{State: st}})
	press(m, "2", "j", "s")
	if _, ok := m.modal.(*confirmModal); !ok || fb.callCount() != 0 {
		t.Fatalf("start with an alert: modal %T, %d calls", m.modal, fb.callCount())
	}
	mustContain(t, m.View(), "Starting shares your files.")
	feed(m, press(m, "y"))
	if got := fb.lastCall(t); got.Method != "package.start" || got.Params != `{"id":"filebrowser"}` {
		t.Fatalf("called %v", got)
	}
}

func TestServiceLogsKey(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	press(m, "2", "enter", "l")
	if m.tab != tabLogs || m.logs.source != "bitcoind" {
		t.Fatalf("l: tab %v source %q", m.tab, m.logs.source)
	}
	if len(fb.sources) != 1 || fb.sources[0] != "bitcoind" {
		t.Fatalf("FollowLogs calls %v", fb.sources)
	}
	mustContain(t, m.View(), "Bitcoin Core log", "No entries yet.")
	// Entries of the old source still in flight are ignored.
	m.Update(LiveMsg{Update: live.Update{Logs: &live.LogBatch{Source: "", Entries: logEntries(3)}}})
	if len(m.logs.lines) != 0 {
		t.Fatal("a batch for the daemon log landed in the package log")
	}
	m.Update(LiveMsg{Update: live.Update{Logs: &live.LogBatch{Source: "bitcoind", Reset: true, Err: &rpc.Error{Code: rpc.CodeMethodNotFound, Message: "Method Not Found"}}}})
	mustContain(t, m.View(), "-32601: Method Not Found")
	press(m, "d")
	if m.logs.source != "" || fb.sources[len(fb.sources)-1] != "" {
		t.Fatalf("d did not switch to the daemon log: %q %v", m.logs.source, fb.sources)
	}
}

func TestActionWithForm(t *testing.T) {
	m, fb := newTestModel(t, 120, 40)
	fb.answers["package.action.get-input"] = `{"spec":{"greeting":{"type":"string","name":"Greeting","nullable":false,"default":"hello"},"shout":{"type":"boolean","name":"Shout"},"mode":{"type":"enum","name":"Mode","values":["plain","fancy"],"value-names":{"plain":"Plain","fancy":"Fancy"}},"times":{"type":"number","name":"Times","integral":true,"nullable":true}},"value":{"greeting":"hi","mode":"plain"}}`
	press(m, "2", "j", "j", "enter")
	// Actions are sorted by name: Reset Greeting, Show Secret, Wipe Cache.
	feed(m, press(m, "enter"))
	if got := fb.lastCall(t); got.Method != "package.action.get-input" || got.Params != `{"packageId":"hello-world","actionId":"reset-greeting"}` {
		t.Fatalf("called %v", got)
	}
	f, ok := m.modal.(*formModal)
	if !ok {
		t.Fatalf("get-input answer opened %T", m.modal)
	}
	mustContain(t, m.View(), "Reset Greeting", "Warning: The current greeting is lost.", "Greeting *", "hi█")
	// Clear the required field: the form refuses and names it.
	press(m, "ctrl+u", "tab", "tab", "tab", "tab", "enter")
	if f.err != "Greeting is required" || m.modal != f {
		t.Fatalf("empty required field: err %q", f.err)
	}
	press(m, "shift+tab", "shift+tab", "shift+tab", "shift+tab")
	typeText(m, "good day")
	press(m, "tab", " ")     // shout on
	press(m, "tab", "right") // fancy
	press(m, "enter")        // enter on a field moves on: times
	typeText(m, "2.5")
	press(m, "tab", "enter")
	if f.err != `Times: "2.5" is not a whole number` {
		t.Fatalf("non-integral number: err %q", f.err)
	}
	press(m, "up", "backspace", "backspace", "down")
	feed(m, press(m, "enter"))
	got := fb.lastCall(t)
	// The daemon's spec is an object: the fields come in key order.
	want := `{"packageId":"hello-world","actionId":"reset-greeting","input":{"greeting":"good day","mode":"fancy","shout":true,"times":2}}`
	if got.Method != "package.action.run" || got.Params != want {
		t.Fatalf("called %s %s\nwant package.action.run %s", got.Method, got.Params, want)
	}
	if _, ok := m.modal.(*resultModal); !ok {
		t.Fatalf("after the run: %T", m.modal)
	}
	mustContain(t, m.View(), "Done.")
}

func TestActionRunAndResult(t *testing.T) {
	m, fb := newTestModel(t, 120, 40)
	fb.answers["package.action.get-input"] = `{"spec":{"greeting":{"type":"string","name":"Greeting","nullable":false}},"value":{"greeting":"hi"}}`
	fb.answers["package.action.run"] = `{"version":"0","message":"The greeting is back.","value":"s3cret-pass","copyable":true,"qr":false}`
	press(m, "2", "j", "j", "enter")
	feed(m, press(m, "enter"))
	cmd := press(m, "tab", "enter")
	feed(m, cmd)
	got := fb.lastCall(t)
	if got.Method != "package.action.run" || got.Params != `{"packageId":"hello-world","actionId":"reset-greeting","input":{"greeting":"hi"}}` {
		t.Fatalf("called %s %s", got.Method, got.Params)
	}
	r, ok := m.modal.(*resultModal)
	if !ok {
		t.Fatalf("result opened %T", m.modal)
	}
	mustContain(t, m.View(), "Reset Greeting", "The greeting is back.", "Value", "s3cret-pass", "(c copies)")
	feed(m, press(m, "c"))
	if got := fb.lastCall(t); got.Method != "clipboard" || got.Params != "s3cret-pass" {
		t.Fatalf("c copied %v", got)
	}
	mustContain(t, m.View(), "copied to the clipboard")
	press(m, "down")
	if r.cursor != 0 {
		t.Fatalf("cursor %d past the one value", r.cursor)
	}
	// A value the action does not mark copyable is not copied.
	m.showResult(actionRunMsg{pkg: "hello-world", action: "show-secret", result: model.ActionResult{Message: "Here.", Value: ptr("not for copying")}})
	if run(press(m, "c")) != nil {
		t.Fatal("copying a value not marked copyable made a command")
	}
	mustContain(t, m.View(), "Value is not marked copyable")
	press(m, "enter")
	if m.modal != nil {
		t.Fatal("enter did not close the result")
	}
}

func TestActionWithoutInputAndWarning(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	fb.answers["package.action.run"] = `{"version":"0","message":"Here it is.","value":"p4ss","copyable":true,"qr":false}`
	press(m, "2", "j", "j", "enter", "down") // Show Secret: no input, no warning
	feed(m, press(m, "enter"))
	if got := fb.lastCall(t); got.Method != "package.action.run" || got.Params != `{"packageId":"hello-world","actionId":"show-secret"}` {
		t.Fatalf("called %s %s", got.Method, got.Params)
	}
	mustContain(t, m.View(), "Here it is.", "p4ss")
	press(m, "esc")

	// Wipe Cache is only allowed while stopped: the page says so, and the
	// daemon, which decides, refuses; its reason is shown.
	mustContain(t, m.View(), "(only when stopped) Deletes cached pages.")
	fb.errs["package.action.run"] = &rpc.Error{Code: rpc.CodeInvalidRequestApp, Message: "Invalid Request", Data: &rpc.ErrorData{Details: `action "wipe" of "hello-world" can run only when the service is stopped; it is running`}}
	press(m, "down", "enter")
	if _, ok := m.modal.(*confirmModal); !ok {
		t.Fatalf("an action with a warning opened %T", m.modal)
	}
	feed(m, press(m, "y"))
	if got := fb.lastCall(t); got.Method != "package.action.run" || got.Params != `{"packageId":"hello-world","actionId":"wipe"}` {
		t.Fatalf("called %v", got)
	}
	mustContain(t, m.View(), "Wipe Cache failed", "can run only when the", "service is stopped; it is running")
	press(m, "esc")
	delete(fb.errs, "package.action.run")

	// On the stopped File Browser... use a stopped state for hello-world.
	st := fixtureState()
	e := st.Doc.PackageData["hello-world"]
	e.StatusInfo.Desired.Main, e.StatusInfo.Started = model.DesiredStopped, nil
	e.StatusInfo.Health = nil
	st.Doc.PackageData["hello-world"] = e
	m.Update(LiveMsg{Update: live.Update{State: st}})
	press(m, "enter")
	if _, ok := m.modal.(*confirmModal); !ok {
		t.Fatalf("an action with a warning opened %T", m.modal)
	}
	mustContain(t, m.View(), "Pages load slowly for a while.")
	feed(m, press(m, "y"))
	if got := fb.lastCall(t); got.Params != `{"packageId":"hello-world","actionId":"wipe"}` {
		t.Fatalf("called %v", got)
	}
}

func TestActionFailureShown(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	fb.errs["package.action.run"] = &rpc.Error{Code: rpc.CodeAction, Message: "Action Failed", Data: &rpc.ErrorData{Details: "exit status 3"}}
	press(m, "2", "j", "j", "enter", "down")
	feed(m, press(m, "enter"))
	mustContain(t, m.View(), "Show Secret failed", "36: Action Failed: exit status 3")
	fb.errs["package.action.get-input"] = errors.New("package.action.get-input: not connected to the daemon")
	press(m, "esc", "up")
	feed(m, press(m, "enter"))
	if m.modal != nil {
		t.Fatalf("a failed get-input opened %T", m.modal)
	}
	mustContain(t, m.View(), "not connected to the daemon")
}

func TestLogsKeys(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	press(m, "3")
	p := &m.logs
	if !p.follow {
		t.Fatal("the log pane does not follow at first")
	}
	mustContain(t, m.View(), "request 59 handled", "following", "60 lines")
	press(m, "k")
	if p.follow {
		t.Fatal("scrolling up did not pause following")
	}
	top := p.top
	press(m, "up")
	if p.top != top-1 {
		t.Fatalf("up: top %d, want %d", p.top, top-1)
	}
	// New lines while paused do not move the view.
	m.Update(LiveMsg{Update: live.Update{Logs: &live.LogBatch{Entries: []model.LogEntry{{Timestamp: epoch, Level: "info", Message: "fresh line"}}}}})
	mustNotContain(t, m.View(), "fresh line")
	press(m, "G")
	if !p.follow {
		t.Fatal("G did not resume following")
	}
	mustContain(t, m.View(), "fresh line")
	press(m, "f")
	if p.follow {
		t.Fatal("f did not toggle following")
	}
	press(m, "g")
	mustContain(t, m.View(), "request 0 handled", "paused")
	press(m, "pgdown", "pgdown", "pgdown", "pgdown")
	if !p.follow {
		t.Fatal("paging to the end did not resume following")
	}

	// Search: / types, enter jumps to the newest match, n/N cycle.
	press(m, "/")
	typeText(m, "REQUEST 1")
	press(m, "enter")
	if len(p.matches) != 11 { // 1, 10..19
		t.Fatalf("%d matches", len(p.matches))
	}
	if p.follow || p.matches[p.match] != 19 {
		t.Fatalf("enter: follow %v match line %d", p.follow, p.matches[p.match])
	}
	mustContain(t, m.View(), `"REQUEST 1": 11/11`, ">")
	press(m, "n")
	if p.matches[p.match] != 1 {
		t.Fatalf("n wraps to the first match, got line %d", p.matches[p.match])
	}
	press(m, "N")
	if p.matches[p.match] != 19 {
		t.Fatalf("N goes back, got line %d", p.matches[p.match])
	}
	press(m, "esc")
	if p.search.Value() != "" || len(p.matches) != 0 {
		t.Fatal("esc did not clear the search")
	}
	press(m, "/")
	typeText(m, "nothing like this")
	press(m, "enter")
	mustContain(t, m.View(), "no match")
	_ = fb
}

func TestLogPaneBounded(t *testing.T) {
	m, _ := newTestModel(t, 80, 24)
	for range 30 {
		m.Update(LiveMsg{Update: live.Update{Logs: &live.LogBatch{Entries: logEntries(500), Dropped: 1}}})
	}
	if n := len(m.logs.lines) - m.logs.start(); n != maxLogLines {
		t.Fatalf("%d lines in view, want the cap %d", n, maxLogLines)
	}
	if len(m.logs.lines) > maxLogLines*5/4+500 {
		t.Fatalf("%d lines held", len(m.logs.lines))
	}
	press(m, "3")
	mustContain(t, m.View(), "30 skipped")
}

func TestNotificationKeys(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	list, _ := json.Marshal(notifications())
	fb.answers["notification.list"] = string(list)
	feed(m, press(m, "4"))
	if got := fb.lastCall(t); got.Method != "notification.list" || got.Params != `{"limit":100}` {
		t.Fatalf("opening the tab called %v", got)
	}
	mustContain(t, m.View(), "Disk almost full", "Hello World: Installing Failed", "Backup complete")
	cases := []struct {
		keys   []string
		method string
		params string
	}{
		{[]string{"m"}, "notification.mark-seen", `{"ids":[3]}`},
		{[]string{"G", "m"}, "notification.mark-unseen", `{"ids":[1]}`},
		{[]string{"a"}, "notification.mark-seen-before", `{"before":4}`},
		{[]string{"j", "x"}, "notification.remove", `{"ids":[2]}`},
		{[]string{"X", "y"}, "notification.remove-before", `{"before":4}`},
	}
	for _, c := range cases {
		press(m, "g")
		msgs := run(press(m, c.keys...))
		// The call, and after it the list is fetched again.
		calls := func() []recorded { fb.mu.Lock(); defer fb.mu.Unlock(); return append([]recorded(nil), fb.calls...) }()
		if got := calls[len(calls)-1]; got.Method != c.method || got.Params != c.params {
			t.Errorf("%v: called %v, want %s %s", c.keys, got, c.method, c.params)
		}
		if len(msgs) != 1 {
			t.Fatalf("%v: %d messages", c.keys, len(msgs))
		}
		_, cmd := m.Update(msgs[0])
		feed(m, cmd)
		if got := fb.lastCall(t); got.Method != "notification.list" {
			t.Errorf("%v: no refetch after the change, last call %v", c.keys, got)
		}
	}
	// enter shows one in full and marks it seen.
	press(m, "g")
	run(press(m, "enter"))
	if got := fb.lastCall(t); got.Method != "notification.mark-seen" || got.Params != `{"ids":[3]}` {
		t.Fatalf("enter called %v", got)
	}
	mustContain(t, m.View(), "Remove old backups or add a disk.", "warning · 2026-03-14 14:09:26")
	run(press(m, "x"))
	if got := fb.lastCall(t); got.Method != "notification.remove" {
		t.Fatalf("x in the detail called %v", got)
	}
	if m.modal != nil {
		t.Fatal("delete did not close the detail")
	}
}

func TestNotificationsRefetchWhenUnreadChanges(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	fb.answers["notification.list"] = `[]`
	feed(m, press(m, "4"))
	mustContain(t, m.View(), "No notifications.")
	n := fb.callCount()
	st := fixtureState() // unread 2, as before: no refetch
	_, cmd := m.Update(LiveMsg{Update: live.Update{State: st}})
	run(cmd)
	if fb.callCount() != n {
		t.Fatal("refetched although the unread count did not change")
	}
	st = fixtureState()
	st.Doc.ServerInfo.UnreadNotificationCount = 3
	_, cmd = m.Update(LiveMsg{Update: live.Update{State: st}})
	run(cmd)
	if fb.callCount() != n+1 || fb.lastCall(t).Method != "notification.list" {
		t.Fatal("a new unread notification did not refetch the list")
	}
	mustContain(t, m.View(), "4 Notes (3)")
	fb.errs["notification.list"] = errors.New("boom")
	feed(m, m.fetchNotes())
	mustContain(t, m.View(), "notification.list: boom")
}

func TestLoginFlow(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	m.Update(LiveMsg{Update: live.Update{Conn: &live.ConnState{Phase: live.NeedLogin, Target: "http://box.local:5959", Remote: true, Err: live.ErrNeedLogin}}})
	if _, ok := m.modal.(*loginModal); !ok {
		t.Fatalf("NeedLogin opened %T", m.modal)
	}
	mustContain(t, m.View(), "Log in to http://box.local:5959", "login required")
	press(m, "enter")
	mustContain(t, m.View(), "type the password")
	typeText(m, "wrong pw")
	mustNotContain(t, m.View(), "wrong pw")
	mustContain(t, m.View(), "••••••••")
	fb.errs["login"] = &rpc.Error{Code: rpc.CodeIncorrectPassword, Message: "Password Incorrect"}
	feed(m, press(m, "enter"))
	if len(fb.logins) != 1 || fb.logins[0] != "wrong pw" {
		t.Fatalf("logins %v", fb.logins)
	}
	mustContain(t, m.View(), "Password incorrect.")
	fb.errs["login"] = nil
	typeText(m, "right pw")
	feed(m, press(m, "enter"))
	if fb.logins[1] != "right pw" {
		t.Fatalf("the field was not cleared after a failure: %v", fb.logins)
	}
	m.Update(LiveMsg{Update: live.Update{Conn: &live.ConnState{Phase: live.Connected}}})
	if m.modal != nil {
		t.Fatal("connecting did not close the login")
	}
	if got := loginError(&rpc.Error{Code: rpc.CodeRateLimited, Message: "Rate Limited"}); !strings.HasPrefix(got, "Too many attempts") {
		t.Fatalf("rate limit: %q", got)
	}
}

func TestDisconnectedAndBack(t *testing.T) {
	m, _ := newTestModel(t, 80, 24)
	_, cmd := m.Update(LiveMsg{Update: live.Update{Conn: &live.ConnState{Phase: live.Disconnected, Err: errors.New("connect to /run/startos/rpc.sock: connection refused"), RetryAt: epoch.Add(3 * time.Second)}}})
	if cmd == nil || !m.ticking {
		t.Fatal("no countdown tick scheduled")
	}
	view := m.View()
	mustContain(t, view, "offline · retry in 3s", "daemon unreachable: connect to /run/startos/rpc.sock: connection refused", "Adjective Noun")
	_, cmd = m.Update(tickMsg{})
	if cmd == nil {
		t.Fatal("the tick is not re-armed while offline")
	}
	_, cmd = m.Update(LiveMsg{Update: live.Update{Conn: &live.ConnState{Phase: live.Connected}}})
	_ = cmd
	_, cmd = m.Update(tickMsg{})
	if cmd != nil || m.ticking {
		t.Fatal("the tick goes on after reconnecting")
	}
	mustContain(t, m.View(), "● live")
	mustNotContain(t, m.View(), "unreachable")
}

func TestOpenPageClosesWhenPackageGoes(t *testing.T) {
	m, _ := newTestModel(t, 80, 24)
	press(m, "2", "j", "j", "enter")
	st := fixtureState()
	delete(st.Doc.PackageData, "hello-world")
	m.Update(LiveMsg{Update: live.Update{State: st}})
	if m.services.open != "" {
		t.Fatal("the page of an uninstalled package stays open")
	}
	mustContain(t, m.View(), "Hello World is no longer installed")
}

func TestInstallFlow(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	file := writeFile(t, "hello.s9pk", []byte("not really a package"))
	fb.answers["package.sideload"] = `{"upload":"up-1"}`
	press(m, "2", "i")
	typeText(m, file)
	msgs := run(press(m, "enter"))
	if got := fb.lastCall(t); got.Method != "package.sideload" {
		t.Fatalf("called %v", got)
	}
	// The daemon answers the upload when the install is done: its verdict
	// is delivered at the end.
	_, cmd := m.Update(msgs[0])
	verdict := run(cmd)
	if len(fb.uploads) != 1 || fb.uploads[0] != [2]string{"up-1", file} {
		t.Fatalf("uploads %v", fb.uploads)
	}
	m.Update(LiveMsg{Update: live.Update{Upload: &live.UploadProgress{Sent: 3 << 20, Total: 8 << 20}}})
	mustContain(t, m.View(), "Installing hello.s9pk", "3.0 MiB / 8.0 MiB")

	// The daemon's phases appear in the state document.
	st := fixtureState()
	total := uint64(4)
	st.Doc.PackageData["tor"] = model.PackageDataEntry{StateInfo: model.StateInfo{State: model.PackageInstalling, InstallingInfo: &model.InstallingInfo{
		NewManifest: json.RawMessage(`{"id":"tor","title":"Tor","version":"0.4.8"}`),
		Progress: model.FullProgress{Overall: model.Progress{Kind: model.ProgressMeasured, Done: 2, Total: &total},
			Phases: []model.NamedProgress{{Name: "Uploading", Progress: model.Progress{Kind: model.ProgressComplete}}, {Name: "Validating", Progress: model.Progress{Kind: model.ProgressIndeterminate}}}}}}}
	st = decodeState(8, st.Doc)
	m.Update(LiveMsg{Update: live.Update{State: st}})
	im := m.modal.(*installModal)
	if im.pkg != "tor" || im.stage != installRunning {
		t.Fatalf("install follows %q at stage %d; nextcloud was already installing and must not be taken", im.pkg, im.stage)
	}
	mustContain(t, m.View(), "Installing Tor 0.4.8", "Validating", "working")
	e := st.Doc.PackageData["tor"]
	e.StateInfo = model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(`{"id":"tor","title":"Tor","version":"0.4.8"}`)}
	st.Doc.PackageData["tor"] = e
	m.Update(LiveMsg{Update: live.Update{State: decodeState(9, st.Doc)}})
	mustContain(t, m.View(), "Installed Tor 0.4.8", "Press enter to open it")
	feed(m, func() tea.Msg { return verdict[0] })
	mustContain(t, m.View(), "Installed Tor 0.4.8", "Press enter to open it")
	press(m, "enter")
	if m.modal != nil || m.services.open != "tor" {
		t.Fatalf("enter after install: modal %T, open %q", m.modal, m.services.open)
	}
}

func TestInstallFailures(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	press(m, "2", "i")
	typeText(m, "/no/such/file.s9pk")
	feed(m, press(m, "enter"))
	if fb.callCount() != 0 {
		t.Fatal("sideload was called for a missing file")
	}
	mustContain(t, m.View(), "Install failed", "/no/such/file.s9pk")
	press(m, "r")
	if m.modal.(*installModal).stage != installPrompt {
		t.Fatal("r does not go back to the prompt")
	}

	// Upload refused by the daemon.
	file := writeFile(t, "bad.s9pk", []byte("x"))
	fb.answers["package.sideload"] = `{"upload":"up-2"}`
	fb.upErr = errors.New("upload: 24: S9PK Validation Error: bad magic")
	press(m, "ctrl+u")
	typeText(m, file)
	msgs := run(press(m, "enter"))
	_, cmd := m.Update(msgs[0])
	feed(m, cmd)
	mustContain(t, m.View(), "Install failed", "bad magic")
	press(m, "esc")
	if m.modal != nil {
		t.Fatal("esc did not close")
	}

	// The package appears, then vanishes: the install was undone.
	press(m, "i")
	fb.upErr = nil
	typeText(m, file)
	msgs = run(press(m, "enter"))
	_, cmd = m.Update(msgs[0])
	run(cmd) // the daemon's verdict would be an error; the state says it first
	st := fixtureState()
	st.Doc.PackageData["tor"] = model.PackageDataEntry{StateInfo: model.StateInfo{State: model.PackageInstalling, InstallingInfo: &model.InstallingInfo{NewManifest: json.RawMessage(`{"id":"tor"}`)}}}
	m.Update(LiveMsg{Update: live.Update{State: decodeState(8, st.Doc)}})
	m.Update(LiveMsg{Update: live.Update{State: fixtureState()}})
	mustContain(t, m.View(), "the install of tor failed and was undone")
	press(m, "esc")

	// An install faster than a frame: the package is installed in the
	// first revision that shows it, then the upload answers.
	press(m, "i")
	typeText(m, file)
	msgs = run(press(m, "enter"))
	_, cmd = m.Update(msgs[0])
	verdict := run(cmd)
	st = fixtureState()
	st.Doc.PackageData["tor"] = model.PackageDataEntry{StateInfo: model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(`{"id":"tor","title":"Tor","version":"0.4.8"}`)}}
	m.Update(LiveMsg{Update: live.Update{State: decodeState(10, st.Doc)}})
	m.Update(verdict[0])
	mustContain(t, m.View(), "Installed Tor 0.4.8", "Press enter to open it")
	press(m, "esc")

	// The upload answers before any revision shows the package: installed
	// all the same; enter goes to the list.
	m.Update(LiveMsg{Update: live.Update{State: fixtureState()}})
	press(m, "i")
	typeText(m, file)
	msgs = run(press(m, "enter"))
	_, cmd = m.Update(msgs[0])
	feed(m, cmd)
	mustContain(t, m.View(), "Installed bad.s9pk", "Press enter for the services list")
	feed(m, press(m, "enter"))
	if m.modal != nil || m.services.open != "" || m.tab != tabServices {
		t.Fatalf("enter after an install not seen: modal %T open %q tab %d", m.modal, m.services.open, m.tab)
	}
}

func TestWaitBoxBridge(t *testing.T) {
	fb := newFakeBox()
	m := New(Options{Box: fb})
	cmd := m.Init()
	fb.publish(live.Update{Conn: &live.ConnState{Phase: live.Connected}})
	msg := cmd()
	lm, ok := msg.(LiveMsg)
	if !ok || !lm.armed || lm.Update.Conn == nil || lm.Update.Conn.Phase != live.Connected {
		t.Fatalf("waitBox gave %#v", msg)
	}
	_, next := m.Update(lm)
	if next == nil {
		t.Fatal("waitBox is not re-armed")
	}
	// Updates within a frame interval wait for it, then come as one.
	start := time.Now()
	fb.publish(live.Update{State: fixtureState()})
	msg = run(next)[0]
	if time.Since(start) < frameInterval/2 {
		t.Fatalf("second update after %s: not paced", time.Since(start))
	}
	if msg.(LiveMsg).Update.State == nil {
		t.Fatal("the state did not arrive")
	}
	// A message sent from outside does not arm a second waiter.
	if _, c := m.Update(LiveMsg{Update: live.Update{}}); c != nil && run(c) != nil {
		t.Fatal("an outside LiveMsg armed a waiter")
	}
	close(fb.done)
	if msg := m.waitBox()(); msg != nil {
		t.Fatalf("a closed box gave %#v", msg)
	}
}

func TestViewIsExactlyTheTerminalSize(t *testing.T) {
	screens := map[string][]string{
		"dashboard": nil, "services": {"2"}, "page": {"2", "j", "j", "enter"}, "installing": {"2", "G", "enter"},
		"logs": {"3"}, "notifications": {"4"}, "help": {"?"}, "filter": {"2", "/", "h"}, "install": {"2", "i"},
		"confirm": {"2", "u"}, "search": {"3", "/", "x"},
	}
	sizes := [][2]int{{80, 24}, {120, 40}, {40, 12}, {200, 60}, {20, 8}}
	for name, ks := range screens {
		for _, sz := range sizes {
			m, fb := newTestModel(t, 80, 24)
			fb.answers["notification.list"], _ = func() (string, error) { b, err := json.Marshal(notifications()); return string(b), err }()
			m.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			feed(m, press(m, ks...))
			lines := strings.Split(m.View(), "\n")
			if len(lines) != sz[1] {
				t.Fatalf("%s at %v: %d lines", name, sz, len(lines))
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w != sz[0] {
					t.Fatalf("%s at %v: line %d is %d wide: %q", name, sz, i, w, l)
				}
			}
		}
	}
}

func TestWaitingBeforeState(t *testing.T) {
	m := New(Options{Box: newFakeBox(), Now: func() time.Time { return epoch }})
	for _, k := range []string{"1", "2", "3", "4"} {
		feed(m, press(m, k))
		if v := m.View(); !strings.Contains(v, "connecting") {
			t.Fatalf("tab %s before any state:\n%s", k, v)
		}
	}
	press(m, "2", "j", "enter", "s", "i", "esc", "1")
}

// TestRemainingKeysAndMessages covers the keys and messages the flows above
// do not.
func TestRemainingKeysAndMessages(t *testing.T) {
	t.Run("log paging", func(t *testing.T) {
		m, _ := newTestModel(t, 80, 24)
		press(m, "3")
		p := &m.logs
		press(m, "pgup")
		if p.follow || p.top != 60-2*visible(m.bodyHeight()) {
			t.Fatalf("pgup: follow %v top %d", p.follow, p.top)
		}
		press(m, "home")
		if p.top != 0 {
			t.Fatalf("home: top %d", p.top)
		}
		press(m, "end")
		if !p.follow {
			t.Fatal("end does not follow")
		}
		press(m, "j")
		if !p.follow {
			t.Fatal("down at the end stops following")
		}
	})
	t.Run("notification paging and delete key", func(t *testing.T) {
		m, fb := newTestModel(t, 80, 24)
		list, _ := json.Marshal(notifications())
		fb.answers["notification.list"] = string(list)
		feed(m, press(m, "4"))
		for _, s := range []struct {
			key  string
			want uint32
		}{{"pgdown", 1}, {"pgup", 3}, {"end", 1}, {"home", 3}, {"down", 2}} {
			press(m, s.key)
			if m.notes.selected != s.want {
				t.Fatalf("%s: selected %d, want %d", s.key, m.notes.selected, s.want)
			}
		}
		run(press(m, "delete"))
		if got := fb.lastCall(t); got.Method != "notification.remove" || got.Params != `{"ids":[2]}` {
			t.Fatalf("delete called %v", got)
		}
		if m.notes.selected != 1 {
			t.Fatalf("after delete the cursor is on %d, want the next row", m.notes.selected)
		}
		press(m, "X", "q")
		if m.modal != nil {
			t.Fatal("q does not cancel a confirmation")
		}
	})
	t.Run("copy failure", func(t *testing.T) {
		m, _ := newTestModel(t, 80, 24)
		m.Update(copiedMsg{err: errors.New("no terminal")})
		mustContain(t, m.View(), "copy: no terminal")
		m.copy = nil
		msg := run(copyCmd(nil, "x"))[0]
		if msg.(copiedMsg).err == nil {
			t.Fatal("copy without a clipboard did not fail")
		}
	})
	t.Run("result without values", func(t *testing.T) {
		m, _ := newTestModel(t, 80, 24)
		for _, res := range []model.ActionResult{{}, {Version: "0", Message: "Ok"}} {
			m.showResult(actionRunMsg{pkg: "hello-world", action: "show-secret", result: res})
			r := m.modal.(*resultModal)
			if len(r.rows) != 0 || r.message == "" {
				t.Fatalf("%+v: %+v", res, r)
			}
			press(m, "esc")
		}
	})
	t.Run("help closes with q and enter", func(t *testing.T) {
		m, _ := newTestModel(t, 80, 24)
		for _, k := range []string{"q", "enter"} {
			press(m, "?")
			if isQuit(press(m, k)) || m.modal != nil {
				t.Fatalf("%s in help: quit or still open", k)
			}
		}
	})
	t.Run("upload done without error keeps the view", func(t *testing.T) {
		m, _ := newTestModel(t, 80, 24)
		press(m, "2", "i")
		m.Update(uploadDoneMsg{})
		if im := m.modal.(*installModal); im.stage != installPrompt {
			t.Fatalf("stage %d", im.stage)
		}
		press(m, "esc")
		if m.modal != nil {
			t.Fatal("esc does not close the prompt")
		}
	})
	t.Run("an empty install path", func(t *testing.T) {
		m, fb := newTestModel(t, 80, 24)
		press(m, "2", "i")
		feed(m, press(m, "enter"))
		if fb.callCount() != 0 {
			t.Fatal("sideload called without a path")
		}
		mustContain(t, m.View(), "Install failed")
	})
	t.Run("watchdog states", func(t *testing.T) {
		m, _ := newTestModel(t, 120, 40)
		m.Update(LiveMsg{Update: live.Update{Watchdog: &live.WatchdogReport{Supported: true, Status: model.WatchdogStatus{State: model.WatchdogStalled,
			Probes: []model.ProbeStatus{{Name: "state-store", State: model.ProbeMegamiss, LastError: "commit took 40s"}, {Name: "rpc", State: model.ProbeOK}}}}}})
		mustContain(t, m.View(), "stalled (2 probes) · state-store megamiss: commit took 40s")
		m.Update(LiveMsg{Update: live.Update{Watchdog: &live.WatchdogReport{Supported: false}}})
		mustNotContain(t, m.View(), "Watchdog")
	})
}

func TestPackageStderrLines(t *testing.T) {
	m, _ := newTestModel(t, 80, 24)
	press(m, "2", "enter", "l")
	m.Update(LiveMsg{Update: live.Update{Logs: &live.LogBatch{Source: "bitcoind", Reset: true, Entries: []model.LogEntry{
		{Timestamp: epoch, Level: "stderr", Message: "panic: oh no"}, {Timestamp: epoch, Message: "listening on :8332"}}}}})
	mustContain(t, m.View(), "15:09:26 ERR   panic: oh no", "15:09:26 listening on :8332")
}

// TestPageAsksTheLibrary: the page's dependencies and interfaces come from
// package.info, asked again after each revision, one call at a time.
func TestPageAsksTheLibrary(t *testing.T) {
	m, fb := newTestModel(t, 120, 40)
	msgs := run(press(m, "2", "j", "j", "enter"))
	if got := fb.lastCall(t); got.Method != "package.info" || got.Params != `{"id":"hello-world"}` || len(msgs) != 1 {
		t.Fatalf("opening the page called %v", got)
	}
	// A revision arrives while the answer is under way: no second call
	// now, one after the answer.
	if len(run(m.apply(live.Update{State: fixtureState()}))) > 0 || fb.callCount() != 1 {
		t.Fatal("a second package.info while one is under way")
	}
	_, next := m.Update(msgs[0])
	feed(m, next)
	if fb.callCount() != 2 {
		t.Fatalf("the stale answer was not followed by a fresh call: %d calls", fb.callCount())
	}
	mustContain(t, m.View(), `bitcoind's health check "Blockchain sync" fails`, "optional: filebrowser is not running", "https://127.0.0.1:443 · ui")
	mustNotContain(t, m.View(), "Asking the daemon")

	// The library changes its mind: the page follows the next revision.
	fb.mu.Lock()
	fb.answers["package.info"] = strings.Replace(helloInfo, `"kind":"healthChecksFailed"`, `"kind":"satisfied"`, 1)
	fb.mu.Unlock()
	feed(m, m.apply(live.Update{State: fixtureState()}))
	mustContain(t, m.View(), "✓ Bitcoin Core >=24.0.0")

	// The daemon refuses: the page says so and keeps the rest.
	fb.mu.Lock()
	fb.errs["package.info"] = &rpc.Error{Code: 6, Message: "Not Found", Data: &rpc.ErrorData{Details: "package \"hello-world\""}}
	fb.mu.Unlock()
	feed(m, m.apply(live.Update{State: fixtureState()}))
	mustContain(t, m.View(), "package.info: 6: Not Found", "Health checks", "Reset Greeting")

	// Leaving the page forgets the answer; its late answer is dropped.
	press(m, "esc")
	if m.services.info != nil || m.services.open != "" {
		t.Fatalf("esc left %+v", m.services)
	}
	m.Update(packageInfoMsg{id: "hello-world"})
	if m.services.info != nil {
		t.Fatal("a late answer filled a closed page")
	}
}

func TestDependencyLine(t *testing.T) {
	cases := []struct {
		d    model.DependencyStatus
		want string
	}{
		{model.DependencyStatus{Kind: model.DependencySatisfied, Required: true}, "✓ Bitcoin Core                 satisfied"},
		{model.DependencyStatus{Kind: model.DependencyNotInstalled, Required: true, Message: "bitcoind is not installed"}, "✗ Bitcoin Core                 bitcoind is not installed"},
		{model.DependencyStatus{Kind: model.DependencyNotRunning}, "- Bitcoin Core                 optional: notRunning"},
		{model.DependencyStatus{Kind: model.DependencyIncorrectVersion, Required: true, Message: "bitcoind 23.0 is installed; >=24.0.0 is needed"}, "✗ Bitcoin Core                 bitcoind 23.0 is installed; >=24.0.0 is needed"},
	}
	for _, c := range cases {
		if got := dependencyLine("Bitcoin Core ", c.d); got != c.want {
			t.Errorf("%+v:\n got %q\nwant %q", c.d, got, c.want)
		}
	}
}

// TestUninstallReplyDoesNotOverwriteState: the state that says the package
// is gone can beat the uninstall's reply; what the state says stays.
func TestUninstallReplyDoesNotOverwriteState(t *testing.T) {
	m, _ := newTestModel(t, 80, 24)
	press(m, "2", "j", "j", "enter")
	st := fixtureState()
	delete(st.Doc.PackageData, "hello-world")
	m.Update(LiveMsg{Update: live.Update{State: st}})
	m.Update(controlDoneMsg{method: "package.uninstall", id: "hello-world"})
	mustContain(t, m.View(), "Hello World is no longer installed")
	mustNotContain(t, m.View(), "Uninstalling")
}

// TestStatusExpires: a status line clears when its time is up (a newer one
// stays), and on a change of view.
func TestStatusExpires(t *testing.T) {
	m, _ := newTestModel(t, 80, 24)
	var scheduled []int
	m.expire = func(n int) tea.Cmd { scheduled = append(scheduled, n); return nil }
	press(m, "2")
	m.Update(controlDoneMsg{method: "package.start", id: "hello-world"})
	m.Update(controlDoneMsg{method: "package.stop", id: "hello-world"})
	if len(scheduled) != 2 {
		t.Fatalf("expiries scheduled: %v", scheduled)
	}
	m.Update(statusExpiredMsg{scheduled[0]}) // the older one: nothing to clear
	mustContain(t, m.View(), "Stopping Hello World…")
	m.Update(statusExpiredMsg{scheduled[1]})
	mustNotContain(t, m.View(), "Stopping Hello World…")

	m.Update(controlDoneMsg{method: "package.restart", id: "hello-world"})
	mustContain(t, m.View(), "Restarting Hello World…")
	press(m, "1")
	mustNotContain(t, m.View(), "Restarting Hello World…")
}

// TestSetupWizard: a box with no owner gets the wizard, not a login that can
// only fail; the password is asked twice and set with setup.execute.
func TestSetupWizard(t *testing.T) {
	m, fb := newTestModel(t, 80, 24)
	fb.answers["setup.status"] = model.SetupIncomplete
	feed(m, m.apply(live.Update{Conn: &live.ConnState{Phase: live.NeedLogin, Target: "http://127.0.0.1:5959", Remote: true, Err: live.ErrNeedLogin}}))
	if _, ok := m.modal.(*setupModal); !ok {
		t.Fatalf("modal %T, want the setup wizard", m.modal)
	}
	typeText(m, "short")
	press(m, "enter")
	mustContain(t, m.View(), "at least 8 characters")
	press(m, "backspace", "backspace", "backspace", "backspace", "backspace")
	typeText(m, "correct horse")
	press(m, "enter") // to the second field
	typeText(m, "correct hors")
	press(m, "enter")
	mustContain(t, m.View(), "the two passwords differ")
	typeText(m, "correct horse")
	feed(m, press(m, "enter"))
	if got := fb.lastCall(t); got.Method != "setup.execute" || got.Params != "correct horse" {
		t.Fatalf("called %v", got)
	}
	m.Update(LiveMsg{Update: live.Update{Conn: &live.ConnState{Phase: live.Connected}}})
	if m.modal != nil {
		t.Fatalf("the wizard stays after connecting: %T", m.modal)
	}

	// A box that has an owner keeps the login box.
	m2, _ := newTestModel(t, 80, 24)
	feed(m2, m2.apply(live.Update{Conn: &live.ConnState{Phase: live.NeedLogin, Remote: true, Err: live.ErrNeedLogin}}))
	if _, ok := m2.modal.(*loginModal); !ok {
		t.Fatalf("modal %T, want login", m2.modal)
	}
}

// TestLoginNamesTheCookieJar: the login box names the jar in use.
func TestLoginNamesTheCookieJar(t *testing.T) {
	m := New(Options{Box: newFakeBox(), CookieJar: "/tmp/elsewhere.json", Width: 100, Height: 24})
	m.expire = func(int) tea.Cmd { return nil }
	m.Update(LiveMsg{Update: live.Update{Conn: &live.ConnState{Phase: live.NeedLogin, Remote: true, Err: live.ErrNeedLogin}}})
	mustContain(t, m.View(), "/tmp/elsewhere.json")
}
