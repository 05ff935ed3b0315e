package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"go.uber.org/goleak"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/startos/model"
)

func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii)
	goleak.VerifyTestMain(m)
}

// recorded is one call the model made.
type recorded struct {
	Method string
	Params string // JSON
}

// fakeBox records what the model asks of the box and answers from a table.
type fakeBox struct {
	mu      sync.Mutex
	calls   []recorded
	answers map[string]string // method -> result JSON
	errs    map[string]error  // method -> error
	sources []string          // FollowLogs
	logins  []string
	uploads [][2]string // id, path
	upErr   error
	pending live.Update
	wake    chan struct{}
	done    chan struct{}
}

func newFakeBox() *fakeBox {
	return &fakeBox{answers: map[string]string{}, errs: map[string]error{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (f *fakeBox) Wake() <-chan struct{} { return f.wake }
func (f *fakeBox) Done() <-chan struct{} { return f.done }
func (f *fakeBox) Take() live.Update {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.pending
	f.pending = live.Update{}
	return u
}

func (f *fakeBox) publish(u live.Update) {
	f.mu.Lock()
	f.pending = u
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fakeBox) Call(_ context.Context, method string, params, result any) error {
	b, _ := json.Marshal(params)
	f.mu.Lock()
	f.calls = append(f.calls, recorded{method, string(b)})
	ans, err := f.answers[method], f.errs[method]
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if ans != "" && result != nil {
		return json.Unmarshal([]byte(ans), result)
	}
	return nil
}

func (f *fakeBox) Login(_ context.Context, pw string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins = append(f.logins, pw)
	return f.errs["login"]
}

func (f *fakeBox) SetupStatus(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.answers["setup.status"]; st != "" {
		return st, nil
	}
	return model.SetupComplete, nil
}

func (f *fakeBox) Setup(_ context.Context, pw string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, recorded{"setup.execute", pw})
	return f.errs["setup.execute"]
}

func (f *fakeBox) FollowLogs(src string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sources = append(f.sources, src)
}

func (f *fakeBox) Upload(_ context.Context, id, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploads = append(f.uploads, [2]string{id, path})
	return f.upErr
}

func (f *fakeBox) lastCall(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("no call was made")
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeBox) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// epoch is the injected clock.
var epoch = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// fixtureState is a box with five packages in every interesting state.
func fixtureState() *live.State {
	started := epoch.Add(-3*time.Hour - 12*time.Minute)
	total := uint64(100)
	manifests := map[string]string{
		"bitcoind": `{"id":"bitcoind","title":"Bitcoin Core","version":"25.0.0","description":{"short":"A full Bitcoin node"},
			"healthChecks":{"rpc":{"name":"RPC"},"sync":{"name":"Blockchain sync"}},
			"interfaces":{"rpc":{"name":"RPC Interface","lanConfig":{"8332":{"ssl":false,"internal":8332}},"ui":false,"protocols":["tcp","http"]}}}`,
		"hello-world": `{"id":"hello-world","title":"Hello World","version":"0.3.5.1","description":{"short":"Example service"},
			"healthChecks":{"web":{"name":"Web Interface","successMessage":"The web interface is ready"}},
			"interfaces":{"main":{"name":"Web Interface","description":"The web interface","lanConfig":{"443":{"ssl":true,"internal":80}},"ui":true,"protocols":["tcp","http"]}},
			"actions":{
				"reset-greeting":{"name":"Reset Greeting","description":"Puts the greeting back to its default.","warning":"The current greeting is lost.","allowedStatuses":["running","stopped"],
					"inputSpec":{"greeting":{"type":"string","name":"Greeting","description":"What the page says","nullable":false,"default":"hello"},"shout":{"type":"boolean","name":"Shout","default":false},"mode":{"type":"enum","name":"Mode","values":["plain","fancy"],"value-names":{"plain":"Plain","fancy":"Fancy"},"default":"plain"}}},
				"show-secret":{"name":"Show Secret","description":"Prints the admin password.","allowedStatuses":["running"]},
				"wipe":{"name":"Wipe Cache","description":"Deletes cached pages.","warning":"Pages load slowly for a while.","allowedStatuses":["stopped"]}},
			"dependencies":{"bitcoind":{"version":">=24.0.0","requirement":{"type":"required"},"description":"Needs a node"},"filebrowser":{"version":"^2.14.1.1","requirement":{"type":"opt-out","how":"Use File Browser"}}},
			"alerts":{"uninstall":"Uninstalling Hello World deletes every greeting."}}`,
		"lnd":       `{"id":"lnd","title":"LND","version":"0.17.0"}`,
		"nextcloud": `{"id":"nextcloud","title":"Nextcloud","version":"27.1.0"}`,
	}
	doc := model.PublicDocument{
		ServerInfo: model.ServerInfo{ID: "box-1", Name: "Adjective Noun", Hostname: "adjective-noun", Version: "0.1.0", Arch: "x86_64", UnreadNotificationCount: 2},
		PackageData: map[string]model.PackageDataEntry{
			"bitcoind": {
				StateInfo: model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(manifests["bitcoind"])},
				StatusInfo: model.PackageStatusInfo{Started: &started, Desired: model.DesiredStatus{Main: model.DesiredRunning},
					Health: map[string]model.HealthCheckResult{
						"rpc":  {Name: "RPC", Result: model.HealthSuccess, Message: "RPC ready"},
						"sync": {Name: "Blockchain sync", Result: model.HealthLoading, Message: "Syncing blocks: 45%"},
					}},
			},
			"hello-world": {
				StateInfo: model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(manifests["hello-world"])},
				StatusInfo: model.PackageStatusInfo{Started: &started, Desired: model.DesiredStatus{Main: model.DesiredRunning},
					Health: map[string]model.HealthCheckResult{"web": {Name: "Web Interface", Result: model.HealthSuccess, Message: "The web interface is ready"}}},
				CurrentDependencies: map[string]model.CurrentDependency{"bitcoind": {Kind: "running", HealthChecks: []string{"sync"}, VersionRange: ">=24.0.0"}},
			},
			"lnd": {
				StateInfo:  model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(manifests["lnd"])},
				StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: model.DesiredRunning}, Error: &model.ErrorData{Details: "main exited with code 1"}},
			},
			"nextcloud": {
				StateInfo: model.StateInfo{State: model.PackageInstalling, InstallingInfo: &model.InstallingInfo{
					NewManifest: json.RawMessage(manifests["nextcloud"]),
					Progress: model.FullProgress{
						Overall: model.Progress{Kind: model.ProgressMeasured, Done: 52, Total: &total},
						Phases: []model.NamedProgress{
							{Name: "Uploading", Progress: model.Progress{Kind: model.ProgressComplete}},
							{Name: "Validating Headers", Progress: model.Progress{Kind: model.ProgressComplete}},
							{Name: "Unpacking", Progress: model.Progress{Kind: model.ProgressMeasured, Done: 40, Total: ptr(uint64(100)), Units: "bytes"}},
							{Name: "Installing", Progress: model.Progress{}},
						},
					},
				}},
			},
			"filebrowser": {
				StateInfo:  model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(`{"id":"filebrowser","title":"File Browser","version":"2.23.0"}`)},
				StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: model.DesiredStopped}},
			},
		},
	}
	return decodeState(7, doc)
}

// decodeState round-trips doc through JSON as the box does, so manifests
// are picked apart by the same code.
func decodeState(rev uint64, doc model.PublicDocument) *live.State {
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	st, err := live.DecodeState(rev, b)
	if err != nil {
		panic(err)
	}
	return st
}

func metricsSample(i int) model.Metrics {
	v := func(f float64, unit string) model.MetricValue {
		return model.MetricValue{Value: fmt.Sprintf("%.1f", f), Unit: unit}
	}
	cpu := float64((i*37)%90 + 5)
	return model.Metrics{
		SampledAt: epoch.Add(time.Duration(i-20) * 4 * time.Second),
		General:   model.MetricsGeneral{Temperature: ptr(v(48, model.UnitCelsius))},
		CPU: model.MetricsCPU{PercentageUsed: v(cpu, "%"), Idle: v(100-cpu, "%"), UserSpace: v(cpu*0.7, "%"),
			KernelSpace: v(cpu*0.3, "%"), Wait: v(0.4, "%")},
		Memory: model.MetricsMemory{PercentageUsed: v(45.1, "%"), Total: v(7812, model.UnitMebibyte), Used: v(3523.2, model.UnitMebibyte), Available: v(4288.8, model.UnitMebibyte)},
		Disk:   model.MetricsDisk{PercentageUsed: v(61+float64(i)/10, "%"), Used: v(152.6, model.UnitGigabyte), Capacity: v(250, model.UnitGigabyte), Available: v(97.4, model.UnitGigabyte)},
	}
}

func logEntries(n int) []model.LogEntry {
	levels := []string{"info", "info", "debug", "warn", "error"}
	out := make([]model.LogEntry, n)
	for i := range out {
		out[i] = model.LogEntry{
			Timestamp: epoch.Add(time.Duration(i-n) * time.Second),
			Level:     levels[i%len(levels)],
			Message:   fmt.Sprintf("startd.service: request %d handled: method=echo took=%dms", i, i%7),
			Cursor:    fmt.Sprint(i),
		}
	}
	return out
}

func notifications() []model.Notification {
	return []model.Notification{
		{ID: 3, CreatedAt: epoch.Add(-time.Hour), Level: model.NotificationWarning, Title: "Disk almost full", Message: "The data disk is 91% full.\nRemove old backups or add a disk.", Seen: false},
		{ID: 2, PackageID: "hello-world", CreatedAt: epoch.Add(-26 * time.Hour), Level: model.NotificationError, Title: "Installing Failed", Message: "image main failed to load", Seen: false},
		{ID: 1, CreatedAt: epoch.Add(-72 * time.Hour), Level: model.NotificationSuccess, Title: "Backup complete", Message: "3 services backed up.", Seen: true},
	}
}

// helloInfo is package.info of hello-world as the library answers it for
// the fixture: the library has judged the dependencies.
const helloInfo = `{"id":"hello-world","title":"Hello World","version":"0.3.5.1","status":"installed","runStatus":"running","health":"success",
	"healthChecks":{"web":{"name":"Web Interface","result":"success","message":"The web interface is ready"}},
	"dependencies":{
		"bitcoind":{"kind":"healthChecksFailed","required":true,"check":"sync","message":"bitcoind's health check \"Blockchain sync\" fails: Syncing blocks: 45%"},
		"filebrowser":{"kind":"notRunning","required":false,"message":"filebrowser is not running"}},
	"interfaces":[{"id":"main","name":"Web Interface","ui":true,"addresses":["https://127.0.0.1:443"]}],
	"actions":[]}`

// newTestModel is a console at w×h over a fake box, connected and filled
// with the fixture.
func newTestModel(t *testing.T, w, h int) (*Model, *fakeBox) {
	t.Helper()
	fb := newFakeBox()
	fb.answers["package.info"] = helloInfo
	t.Cleanup(func() { close(fb.done) })
	m := New(Options{Box: fb, Now: func() time.Time { return epoch }, Location: time.UTC, Width: w, Height: h,
		Copy: func(s string) error {
			fb.mu.Lock()
			defer fb.mu.Unlock()
			fb.calls = append(fb.calls, recorded{"clipboard", s})
			return nil
		}})
	m.expire = func(int) tea.Cmd { return nil } // statuses stay; TestStatusExpires sends the expiry itself
	metrics := make([]model.Metrics, 20)
	for i := range metrics {
		metrics[i] = metricsSample(i)
	}
	m.Update(LiveMsg{Update: live.Update{
		Conn:     &live.ConnState{Phase: live.Connected, Target: "unix:///run/startos/rpc.sock"},
		State:    fixtureState(),
		Clock:    &live.ServerClock{Time: model.ServerTime{Now: epoch, Uptime: 3*3600 + 25*60}, At: epoch},
		Metrics:  metrics,
		Watchdog: &live.WatchdogReport{Supported: true, Status: model.WatchdogStatus{State: model.WatchdogOK, Probes: make([]model.ProbeStatus, 6)}},
		Logs:     &live.LogBatch{Reset: true, Entries: logEntries(60)},
	}})
	return m, fb
}

// keyMsg turns a key name into the message a terminal would produce.
func keyMsg(s string) tea.KeyMsg {
	named := map[string]tea.KeyType{
		"enter": tea.KeyEnter, "esc": tea.KeyEsc, "up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft,
		"right": tea.KeyRight, "tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab, "pgup": tea.KeyPgUp,
		"pgdown": tea.KeyPgDown, "home": tea.KeyHome, "end": tea.KeyEnd, "ctrl+c": tea.KeyCtrlC,
		"backspace": tea.KeyBackspace, "delete": tea.KeyDelete, " ": tea.KeySpace, "ctrl+u": tea.KeyCtrlU,
		"ctrl+w": tea.KeyCtrlW, "ctrl+a": tea.KeyCtrlA, "ctrl+e": tea.KeyCtrlE, "ctrl+k": tea.KeyCtrlK,
	}
	if t, ok := named[s]; ok {
		return tea.KeyMsg{Type: t}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// press sends keys and returns the last key's command.
func press(m *Model, ks ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range ks {
		_, cmd = m.Update(keyMsg(k))
	}
	return cmd
}

// typeText sends each rune as a key.
func typeText(m *Model, s string) {
	for _, r := range s {
		m.Update(keyMsg(string(r)))
	}
}

// run executes cmd (and batches) and returns the messages, without feeding
// them back.
func run(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, run(c)...)
		}
		return out
	}
	if msg == nil {
		return nil
	}
	return []tea.Msg{msg}
}

// feed runs cmd and gives its messages to the model, returning them.
func feed(m *Model, cmd tea.Cmd) []tea.Msg {
	msgs := run(cmd)
	for _, msg := range msgs {
		m.Update(msg)
	}
	return msgs
}

func isQuit(cmd tea.Cmd) bool {
	for _, msg := range run(cmd) {
		if _, ok := msg.(tea.QuitMsg); ok {
			return true
		}
	}
	return false
}

func mustContain(t *testing.T, view string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(view, w) {
			t.Fatalf("view lacks %q:\n%s", w, view)
		}
	}
}

func mustNotContain(t *testing.T, view string, bad ...string) {
	t.Helper()
	for _, w := range bad {
		if strings.Contains(view, w) {
			t.Fatalf("view has %q:\n%s", w, view)
		}
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := t.TempDir() + "/" + name
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
