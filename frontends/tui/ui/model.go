// Package ui is start-tui's terminal interface: a bubbletea model over a
// live view of the box (package live). It derives what to show from the
// state document and the streams, and turns keys into RPC calls; it holds
// no logic of its own about services.
package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/startos/model"
)

// Box is what the console needs of the daemon. *live.Box is the real one;
// tests record calls with their own.
type Box interface {
	Wake() <-chan struct{}
	Done() <-chan struct{}
	Take() live.Update
	Call(ctx context.Context, method string, params, result any) error
	Login(ctx context.Context, password string) error
	SetupStatus(ctx context.Context) (string, error)
	Setup(ctx context.Context, password string) error
	FollowLogs(source string)
	Upload(ctx context.Context, id, path string) error
}

// Options configure New.
type Options struct {
	Box Box
	// Now is the clock (uptime, ages, retry countdown); default time.Now.
	Now func() time.Time
	// Location is the time zone log and notification times are shown in;
	// default time.Local.
	Location *time.Location
	// Copy puts text on the clipboard (OSC 52); nil when the terminal
	// cannot.
	Copy func(string) error
	// Width and Height are the initial size, until the terminal reports one
	// (default 80x24).
	Width, Height int
	// CookieJar is where a login's session is kept, for the login box to
	// name (default ~/.startos/cookies.json).
	CookieJar string
}

type tab int

const (
	tabDashboard tab = iota
	tabServices
	tabLogs
	tabNotifications
	tabBackups
	tabMarket
	tabSettings
	tabCount
)

var tabNames = [tabCount]string{"Dashboard", "Services", "Logs", "Notifications", "Backups", "Marketplace", "Settings"}

// tabShortNames replace tabNames when the whole bar does not fit (80 columns).
var tabShortNames = [tabCount]string{"Home", "Services", "Logs", "Notes", "Backups", "Market", "Settings"}

// historyLen is how many metrics samples the sparklines keep.
const historyLen = 120

// Model is the console. Create it with New; it is a tea.Model.
type Model struct {
	box  Box
	now  func() time.Time
	loc  *time.Location
	copy func(string) error
	w, h int
	jar  string // the cookie jar's path, for the login box

	// What the box told us.
	conn     live.ConnState
	state    *live.State
	clock    *live.ServerClock
	metrics  []model.Metrics
	watchdog *live.WatchdogReport
	upload   *live.UploadProgress

	tab      tab
	services servicesView
	logs     logPane
	notes    notesView
	backups  backupsView
	market   marketView
	settings settingsView
	modal    modal
	status   string              // the status line
	statusOK bool                // false: an error
	statusN  int                 // bumped by each setStatus; a status expires statusTTL after it was set
	expire   func(n int) tea.Cmd // schedules statusExpiredMsg{n}; unit tests stop the clock
	ticking  bool                // a countdown tick is scheduled
	lastWake time.Time
	sorted   struct { // sortedPackageIDs of state
		state *live.State
		ids   []string
	}
}

// modal is a screen over the current view that takes every key: help,
// confirmations, forms, results, login, install.
type modal interface {
	update(m *Model, k tea.KeyMsg) tea.Cmd
	view(m *Model, w, h int) []string
	footer() []key.Binding
}

// New returns the console over opts.Box.
func New(opts Options) *Model {
	m := &Model{box: opts.Box, now: opts.Now, loc: opts.Location, copy: opts.Copy, w: opts.Width, h: opts.Height, jar: opts.CookieJar}
	if m.jar == "" {
		m.jar = "~/.startos/cookies.json"
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.loc == nil {
		m.loc = time.Local
	}
	if m.w <= 0 || m.h <= 0 {
		m.w, m.h = 80, 24
	}
	m.logs.follow = true
	m.conn.Phase = live.Connecting
	m.expire = func(n int) tea.Cmd {
		var done <-chan struct{} // the timer ends with the box, not 6 s after it
		if m.box != nil {
			done = m.box.Done()
		}
		return func() tea.Msg {
			t := time.NewTimer(statusTTL)
			defer t.Stop()
			select {
			case <-t.C:
				return statusExpiredMsg{n}
			case <-done:
				return nil
			}
		}
	}
	return m
}

// LiveMsg carries what changed on the box. The console makes its own from
// the box; benchmarks and tests may send one directly.
type LiveMsg struct {
	Update live.Update
	armed  bool // it came from waitBox, which must be re-armed
}

type tickMsg struct{}

// statusExpiredMsg clears status number n if it still shows.
type statusExpiredMsg struct{ n int }

// statusTTL is how long a status message stays; a view change clears it too.
const statusTTL = 6 * time.Second

// frameInterval caps how often stream updates reach Update: high-rate logs
// arrive in batches, about ten a second.
const frameInterval = 100 * time.Millisecond

// waitBox is the bridge from the box to the program: it waits for the
// box's wake signal, takes everything pending at once, and is re-armed by
// Update. Exactly one is outstanding.
func (m *Model) waitBox() tea.Cmd {
	if m.box == nil {
		return nil
	}
	b, last := m.box, m.lastWake
	return func() tea.Msg {
		select {
		case <-b.Wake():
		case <-b.Done():
			return nil
		}
		if d := frameInterval - time.Since(last); d > 0 && !last.IsZero() {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-b.Done():
				t.Stop()
				return nil
			}
		}
		return LiveMsg{Update: b.Take(), armed: true}
	}
}

func tick() tea.Cmd { return tea.Tick(time.Second, func(time.Time) tea.Msg { return tickMsg{} }) }

// Init starts listening to the box.
func (m *Model) Init() tea.Cmd { return m.waitBox() }

// Update handles one message; a status line it sets expires after statusTTL.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if e, ok := msg.(statusExpiredMsg); ok {
		if e.n == m.statusN {
			m.status = ""
		}
		return m, nil
	}
	n := m.statusN
	model, cmd := m.update(msg)
	if m.statusN != n && m.status != "" {
		cmd = tea.Batch(cmd, m.expire(m.statusN))
	}
	return model, cmd
}

func (m *Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = max(msg.Width, 20), max(msg.Height, 8)
		return m, nil
	case LiveMsg:
		cmd := m.apply(msg.Update)
		if msg.armed {
			m.lastWake = time.Now()
			cmd = tea.Batch(cmd, m.waitBox())
		}
		return m, cmd
	case tickMsg:
		if m.conn.Phase == live.Disconnected {
			return m, tick()
		}
		m.ticking = false
		return m, nil
	case tea.KeyMsg:
		return m, m.key(msg)
	case controlDoneMsg:
		m.controlDone(msg)
		return m, nil
	case configGetMsg, configSetMsg, propertiesMsg:
		cmd, _ := m.configMessage(msg)
		return m, cmd
	case actionInputMsg:
		return m, m.openForm(msg)
	case actionRunMsg:
		m.showResult(msg)
		return m, nil
	case packageInfoMsg:
		return m, m.gotInfo(msg)
	case notificationsMsg:
		m.notes.loading = false
		if msg.err != nil {
			m.notes.err = msg.err
			return m, nil
		}
		m.notes.loaded, m.notes.err = true, nil
		m.notes.setItems(msg.items)
		return m, nil
	case notificationDoneMsg:
		m.done(noteWords[msg.method], msg.err)
		return m, m.fetchNotes()
	case loginDoneMsg:
		if lm, ok := m.modal.(*loginModal); ok {
			lm.busy = false
			if msg.err != nil {
				lm.err = msg.err
				lm.input.Set("")
			}
		}
		return m, nil
	case setupStatusMsg:
		if _, ok := m.modal.(*loginModal); ok && msg.status == model.SetupIncomplete {
			m.modal = newSetupModal()
		}
		return m, nil
	case setupDoneMsg:
		if sm, ok := m.modal.(*setupModal); ok {
			sm.busy, sm.err = false, msg.err
		}
		return m, nil
	case backupTargetsMsg, backupDoneMsg, backupInfoMsg:
		return m, m.backupsMsg(msg)
	case sideloadMsg:
		return m, m.sideloaded(msg)
	case uploadDoneMsg:
		m.uploaded(msg.err)
		return m, nil
	case marketMsg:
		m.marketLoaded(msg)
		return m, nil
	case marketDoneMsg:
		return m, m.marketDone(msg)
	case settingsListMsg, settingsDoneMsg:
		return m, m.settingsMsg(msg)
	case copiedMsg:
		if msg.err != nil {
			m.setStatus("copy: "+msg.err.Error(), false)
		} else {
			m.setStatus("copied to the clipboard", true)
		}
		return m, nil
	}
	return m, nil
}

// done reports a call's outcome on the status line: what happened, in words.
func (m *Model) done(what string, err error) {
	if err != nil {
		m.setStatus("could not "+what+": "+err.Error(), false)
		return
	}
	m.setStatus(what+": done", true)
}

// noteWords says what a notification call does, for the status line.
var noteWords = map[string]string{
	"notification.mark-seen": "mark the notification read", "notification.mark-unseen": "mark the notification unread",
	"notification.remove": "remove the notification", "notification.mark-all-seen": "mark every notification read",
}

// controlWords: what a lifecycle call does, and what the status line says
// once the box accepted it (the state document then shows the outcome).
var controlWords = map[string][2]string{
	"package.start":     {"start", "Starting"},
	"package.stop":      {"stop", "Stopping"},
	"package.restart":   {"restart", "Restarting"},
	"package.uninstall": {"uninstall", "Uninstalling"},
}

// controlDone reports a lifecycle call. What the state document says wins:
// an uninstall whose package already left the state keeps "no longer
// installed" rather than a reply that raced it.
func (m *Model) controlDone(msg controlDoneMsg) {
	words, ok := controlWords[msg.method]
	if !ok {
		words = [2]string{msg.method, msg.method}
	}
	title := m.title(msg.id)
	if msg.err != nil {
		m.setStatus("could not "+words[0]+" "+title+": "+msg.err.Error(), false)
		return
	}
	if msg.method == "package.uninstall" && m.state != nil {
		if _, present := m.state.Doc.PackageData[msg.id]; !present {
			return
		}
	}
	m.setStatus(words[1]+" "+title+"…", true)
}

func (m *Model) setStatus(s string, ok bool) { m.status, m.statusOK, m.statusN = s, ok, m.statusN+1 }

// apply takes what changed on the box.
func (m *Model) apply(u live.Update) tea.Cmd {
	var cmds []tea.Cmd
	if u.Conn != nil {
		was := m.conn.Phase
		m.conn = *u.Conn
		switch m.conn.Phase {
		case live.NeedLogin:
			if _, ok := m.modal.(*loginModal); !ok {
				if _, ok := m.modal.(*setupModal); !ok {
					m.modal = newLoginModal()
					cmds = append(cmds, setupStatusCmd(m.box)) // a box with no owner gets the wizard
				}
			}
		case live.Connected:
			switch m.modal.(type) {
			case *loginModal, *setupModal:
				m.modal = nil
			}
			if was != live.Connected && (m.tab == tabNotifications || m.notes.loaded) {
				cmds = append(cmds, m.fetchNotes())
			}
		case live.Disconnected:
			if !m.ticking {
				m.ticking = true
				cmds = append(cmds, tick())
			}
		}
	}
	if u.State != nil {
		unread := m.unread()
		openTitle := m.title(m.services.open) // while its manifest is at hand
		lastBackup := m.lastBoxBackup()
		m.state = u.State
		if !m.lastBoxBackup().Equal(lastBackup) && m.backups.loaded {
			cmds = append(cmds, m.fetchTargets()) // a target's lastBackup moved with it
		}
		if m.unread() != unread && (m.tab == tabNotifications || m.notes.loaded) {
			cmds = append(cmds, m.fetchNotes())
		}
		if im, ok := m.modal.(*installModal); ok {
			im.observe(m.state)
		}
		if id := m.services.open; id != "" {
			if _, ok := m.state.Doc.PackageData[id]; !ok {
				m.services.open, m.services.info = "", nil
				m.setStatus(openTitle+" is no longer installed", true)
			} else {
				cmds = append(cmds, m.fetchInfo())
			}
		}
	}
	if u.Clock != nil {
		m.clock = u.Clock
	}
	if len(u.Metrics) > 0 {
		m.metrics = append(m.metrics, u.Metrics...)
		if n := len(m.metrics) - historyLen; n > 0 {
			m.metrics = append(m.metrics[:0:0], m.metrics[n:]...)
		}
	}
	if u.Watchdog != nil {
		m.watchdog = u.Watchdog
	}
	if u.Logs != nil {
		m.logs.add(u.Logs)
	}
	if u.Upload != nil {
		m.upload = u.Upload
		if im, ok := m.modal.(*installModal); ok && u.Upload.Err != nil {
			im.fail(u.Upload.Err)
		}
	}
	return tea.Batch(cmds...)
}

func (m *Model) unread() uint64 {
	if m.state == nil {
		return 0
	}
	return m.state.Doc.ServerInfo.UnreadNotificationCount
}

func (m *Model) fetchNotes() tea.Cmd {
	if m.box == nil {
		return nil
	}
	m.notes.loading = true
	return notificationsCmd(m.box)
}

// typing reports whether keys go to a text field of the current view.
func (m *Model) typing() bool {
	switch m.tab {
	case tabServices:
		return m.services.filtering
	case tabLogs:
		return m.logs.searching
	case tabMarket:
		return m.market.searching
	}
	return false
}

func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyCtrlC {
		return tea.Quit
	}
	if m.modal != nil {
		return m.modal.update(m, k)
	}
	if m.typing() {
		switch m.tab {
		case tabServices:
			m.services.typeFilter(k)
		case tabLogs:
			m.logs.typeSearch(k)
		case tabMarket:
			return m.typeMarketSearch(k)
		}
		return nil
	}
	switch {
	case key.Matches(k, keys.Quit):
		return tea.Quit
	case key.Matches(k, keys.Help):
		m.modal = &helpModal{}
		return nil
	case key.Matches(k, keys.NextTab):
		return m.switchTab((m.tab + 1) % tabCount)
	case key.Matches(k, keys.PrevTab):
		return m.switchTab((m.tab + tabCount - 1) % tabCount)
	case key.Matches(k, keys.Dashboard):
		return m.switchTab(tabDashboard)
	case key.Matches(k, keys.Services):
		return m.switchTab(tabServices)
	case key.Matches(k, keys.Logs):
		return m.switchTab(tabLogs)
	case key.Matches(k, keys.Notifications):
		return m.switchTab(tabNotifications)
	case key.Matches(k, keys.Backups):
		return m.switchTab(tabBackups)
	case key.Matches(k, keys.Marketplace):
		return m.switchTab(tabMarket)
	case key.Matches(k, keys.Settings):
		return m.switchTab(tabSettings)
	}
	switch m.tab {
	case tabServices:
		return m.servicesKey(k)
	case tabLogs:
		m.logsKey(k)
	case tabNotifications:
		return m.notesKey(k)
	case tabBackups:
		return m.backupsKey(k)
	case tabMarket:
		return m.marketKey(k)
	case tabSettings:
		return m.settingsKey(k)
	}
	return nil
}

func (m *Model) switchTab(t tab) tea.Cmd {
	if t != m.tab {
		m.status = "" // a status belongs to the view it was made in
	}
	m.tab = t
	if t == tabNotifications && !m.notes.loading {
		return m.fetchNotes()
	}
	if t == tabBackups && !m.backups.loading {
		return m.fetchTargets()
	}
	if t == tabMarket && !m.market.loading {
		return m.fetchMarket()
	}
	if t == tabSettings && !m.settings.loading {
		return m.fetchSettings()
	}
	return nil
}

// bodyHeight is the lines between the header (2) and the status and help
// lines (2).
func (m *Model) bodyHeight() int { return max(m.h-4, 1) }

// View renders the whole screen, exactly the terminal's size.
func (m *Model) View() string {
	lines := make([]string, 0, m.h)
	lines = append(lines, m.viewHeader()...)
	bh := m.bodyHeight()
	var body []string
	if m.modal != nil {
		body = m.modal.view(m, m.w, bh)
	} else {
		switch m.tab {
		case tabDashboard:
			body = m.viewDashboard(m.w, bh)
		case tabServices:
			body = m.viewServices(m.w, bh)
		case tabLogs:
			body = m.logs.view(m, m.w, bh)
		case tabNotifications:
			body = m.viewNotes(m.w, bh)
		case tabBackups:
			body = m.viewBackups(m.w, bh)
		case tabMarket:
			body = m.viewMarket(m.w, bh)
		case tabSettings:
			body = m.viewSettings(m.w, bh)
		}
	}
	lines = append(lines, block(body, m.w, bh)...)
	lines = append(lines, fit(m.viewStatus(), m.w), fit(" "+renderHelp(m.viewFooter(), m.w-2), m.w))
	return strings.Join(lines, "\n")
}

func (m *Model) viewHeader() []string {
	name, version := "StartOS", ""
	if m.state != nil {
		si := m.state.Doc.ServerInfo
		if si.Name != "" {
			name = si.Name
		}
		version = "StartOS " + si.Version
	}
	left := " " + stBold.Render(name)
	if version != "" {
		left += stDim.Render(" · " + version)
	}
	right := m.connBadge() + " "
	// The full names, packed when they do not fit spaced; the short names,
	// packed, at 80 columns.
	bar := m.tabBar(tabNames, " ")
	if lipgloss.Width(bar) > m.w {
		bar = m.tabBar(tabNames, "")
	}
	if lipgloss.Width(bar) > m.w {
		bar = m.tabBar(tabShortNames, "")
	}
	return []string{spread(left, right, m.w), fit(bar, m.w)}
}

// tabBar renders the views' tabs with the given names and separator, the
// current marked.
func (m *Model) tabBar(names [tabCount]string, sep string) string {
	var tabs []string
	for i, n := range names {
		label := n
		switch tab(i) {
		case tabServices:
			if m.state != nil {
				label += fmt.Sprintf(" (%d)", len(m.state.Doc.PackageData))
			}
		case tabNotifications:
			if u := m.unread(); u > 0 {
				label += fmt.Sprintf(" (%d)", u)
			}
		}
		label = fmt.Sprintf("%d %s", i+1, label)
		if tab(i) == m.tab && m.modal == nil {
			tabs = append(tabs, stTab.Render("["+label+"]"))
		} else {
			tabs = append(tabs, " "+label+" ")
		}
	}
	return " " + strings.Join(tabs, sep)
}

func (m *Model) connBadge() string {
	switch m.conn.Phase {
	case live.Connected:
		return stOK.Render("● live")
	case live.NeedLogin:
		return stWarn.Render("● login required")
	case live.Disconnected:
		wait := m.conn.RetryAt.Sub(m.now()).Round(time.Second)
		if wait > 0 {
			return stBad.Render(fmt.Sprintf("● offline · retry in %s", wait))
		}
		return stBad.Render("● offline · retrying")
	}
	return stWarn.Render("● connecting")
}

func (m *Model) viewStatus() string {
	if m.conn.Phase == live.Disconnected && m.conn.Err != nil {
		return " " + stBad.Render("daemon unreachable: "+m.conn.Err.Error())
	}
	if m.status == "" {
		return ""
	}
	if m.statusOK {
		return " " + stOK.Render(m.status)
	}
	return " " + stBad.Render(m.status)
}

func (m *Model) viewFooter() []key.Binding {
	if m.modal != nil {
		return m.modal.footer()
	}
	switch {
	case m.tab == tabServices && m.services.filtering, m.tab == tabLogs && m.logs.searching:
		return shortHelp(bind(nil, "enter", "apply"), bind(nil, "esc", "clear"))
	case m.tab == tabServices && m.services.open != "":
		return shortHelp(bind(nil, "enter", "run action"), bind(nil, "esc", "back"), keys.Start, keys.Stop, keys.Restart, keys.Uninstall, keys.ServiceLogs, keyConfig, keyProperties, keys.Help)
	case m.tab == tabServices:
		return shortHelp(keys.Up, keys.Down, keys.Enter, keys.Filter, keys.Install, keys.Help, keys.Quit)
	case m.tab == tabLogs:
		return shortHelp(keys.Up, keys.Down, keys.Follow, keys.Filter, keys.Wrap, bind(nil, "enter", "full line"), keys.Help)
	case m.tab == tabBackups:
		return m.backupsFooter()
	case m.tab == tabNotifications:
		return shortHelp(keys.Up, keys.Down, keys.Enter, keys.ToggleSeen, keys.AllSeen, keys.Delete, keys.Help)
	case m.tab == tabMarket:
		return m.marketFooter()
	case m.tab == tabSettings:
		return m.settingsFooter()
	}
	return shortHelp(keys.Services, keys.Logs, keys.Notifications, keys.NextTab, keys.Help, keys.Quit)
}

// sortedPackageIDs lists packages by title, then id. The order is kept
// for the state it was made from; callers must not modify it.
func (m *Model) sortedPackageIDs() []string {
	if m.state == nil {
		return nil
	}
	if m.sorted.state == m.state {
		return m.sorted.ids
	}
	type keyed struct{ key, id string }
	ks := make([]keyed, 0, len(m.state.Doc.PackageData))
	for id := range m.state.Doc.PackageData {
		ks = append(ks, keyed{strings.ToLower(m.title(id)), id})
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.id
	}
	m.sorted.state, m.sorted.ids = m.state, ids
	return ids
}

// title is a package's display name.
func (m *Model) title(id string) string {
	if m.state != nil {
		if mf := m.state.Manifests[id]; mf != nil && mf.Title != "" {
			return mf.Title
		}
	}
	return id
}

func (m *Model) manifest(id string) *live.Manifest {
	if m.state == nil || m.state.Manifests[id] == nil {
		return &live.Manifest{ID: id}
	}
	return m.state.Manifests[id]
}
