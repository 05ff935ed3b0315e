package ui

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/startos-go/startos/startos/config"
)

// openConfigForm opens the form over the every-type spec with its defaults,
// as the answer of package.config.get would.
func openConfigForm(t *testing.T) (*Model, *fakeBox, *configModal) {
	t.Helper()
	b, err := os.ReadFile("../../../startos/config/testdata/every-type.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := config.ParseSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	m, fb := newTestModel(t, 120, 60)
	m.Update(configGetMsg{pkg: "hello-world", res: config.Res{Spec: spec, Config: cfg}})
	f, ok := m.modal.(*configModal)
	if !ok {
		t.Fatalf("no config form: %T", m.modal)
	}
	return m, fb, f
}

// focus moves the cursor to the row labelled label (the first one).
func focus(t *testing.T, m *Model, f *configModal, label string) cfgRow {
	t.Helper()
	for i := 0; i < 200 && f.cursor < len(f.rows); i++ {
		if f.rows[f.cursor].label == label {
			return f.rows[f.cursor]
		}
		press(m, "tab")
	}
	t.Fatalf("no row %q", label)
	return cfgRow{}
}

func TestConfigFormEveryType(t *testing.T) {
	m, fb, f := openConfigForm(t)
	if f.err != nil {
		t.Fatalf("defaults invalid in the form: %v", f.err)
	}
	screen := strings.Join(f.view(m, 120, 60), "\n")
	for _, want := range []string{"Greeting", "hello", "Password", "•", "Port", "8080", "port", "[x]", "‹ green ›",
		"list of string, 2 item(s)", "Users", "Backend type: ‹ Built in ›", "set by the box", "✓ valid"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the form lacks %q:\n%s", want, screen)
		}
	}
	pw := f.value["password"].(string)
	if strings.Contains(screen, pw) {
		t.Fatal("the masked password is shown")
	}
	press(m, "ctrl+r")
	if !strings.Contains(strings.Join(f.view(m, 120, 60), "\n"), pw) {
		t.Fatal("^r does not reveal the password")
	}

	// Text: typing validates at once, naming the value.
	focus(t, m, f, "Greeting")
	typeText(m, "!")
	if ve, ok := f.err.(*config.ValueError); !ok || ve.Path != "greeting" {
		t.Fatalf("after typing !: %v", f.err)
	}
	if !strings.Contains(strings.Join(f.view(m, 120, 60), "\n"), "✗ greeting: does not match the pattern") {
		t.Fatal("the error is not shown")
	}
	press(m, "backspace")
	if f.err != nil {
		t.Fatalf("after removing it: %v", f.err)
	}
	// Numbers, toggles and choices.
	focus(t, m, f, "Ratio")
	typeText(m, "0.5")
	if f.value["ratio"] != 0.5 {
		t.Fatalf("ratio %v", f.value["ratio"])
	}
	focus(t, m, f, "Enabled")
	press(m, " ")
	focus(t, m, f, "Color")
	press(m, "right")
	if f.value["enabled"] != false || f.value["color"] != "blue" {
		t.Fatalf("toggle/choice: %v %v", f.value["enabled"], f.value["color"])
	}
	// Lists: add and delete items; a new object item gets its defaults.
	focus(t, m, f, "Users")
	m.Update(tea.KeyMsg{Type: tea.KeyCtrlN})
	if users := f.value["users"].([]any); len(users) != 2 || f.err == nil || !strings.Contains(f.err.Error(), "users[1]: is the same as item 0") {
		t.Fatalf("a second default user must clash by unique-by name: %v %v", users, f.err)
	}
	focus(t, m, f, "#2")
	row := focus(t, m, f, "Name")
	for row.path != "users[1].name" {
		press(m, "tab")
		row = f.rows[f.cursor]
	}
	typeText(m, "2")
	if f.err != nil {
		t.Fatalf("after renaming the second user: %v", f.err)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyCtrlD})
	if users := f.value["users"].([]any); len(users) != 1 {
		t.Fatalf("^d did not delete: %v", users)
	}
	// Unions: switching the variant shows its fields with their defaults.
	focus(t, m, f, "Backend")
	press(m, "right")
	if be := f.value["backend"].(map[string]any); be["type"] != "external" || be["url"] != "http://example.com" {
		t.Fatalf("variant: %v", be)
	}
	focus(t, m, f, "URL")
	// A list of unions.
	focus(t, m, f, "Peers")
	m.Update(tea.KeyMsg{Type: tea.KeyCtrlN})
	if f.err == nil || !strings.Contains(f.err.Error(), "peers[0].host") {
		t.Fatalf("a new tcp peer needs a host: %v", f.err)
	}
	focus(t, m, f, "Host")
	typeText(m, "node.local")
	if f.err != nil {
		t.Fatalf("with a host: %v", f.err)
	}

	// Saving sends the whole config.
	cmd := press(m, "ctrl+s")
	if cmd == nil {
		t.Fatal("^s with a valid config sent nothing")
	}
	msg := cmd()
	if set, ok := msg.(configSetMsg); !ok || set.err != nil {
		t.Fatalf("save: %#v", msg)
	}
	var sent struct {
		ID     string         `json:"id"`
		Config map[string]any `json:"config"`
	}
	calls := fb.callsTo("package.config.set")
	if len(calls) != 1 || json.Unmarshal([]byte(calls[0]), &sent) != nil || sent.ID != "hello-world" ||
		sent.Config["greeting"] != "hello" || sent.Config["color"] != "blue" || sent.Config["backend"].(map[string]any)["type"] != "external" {
		t.Fatalf("package.config.set params: %v", calls)
	}
	m.Update(msg)
	if m.modal != nil || !strings.Contains(m.status, "config of Hello World saved") {
		t.Fatalf("after saving: modal %T status %q", m.modal, m.status)
	}
}

func TestPropertiesView(t *testing.T) {
	m, fb := newTestModel(t, 100, 30)
	desc := "The admin password"
	m.Update(propertiesMsg{pkg: "hello-world", props: &config.Properties{Version: 2, Data: map[string]config.PropertyValue{
		"Password":   {Type: "string", Value: "s3cret", Masked: true, Copyable: true, Description: &desc},
		"Connection": {Type: "object", Children: map[string]config.PropertyValue{"URL": {Type: "string", Value: "http://x.local", QR: true}}},
	}}})
	screen := strings.Join(m.modal.view(m, 100, 30), "\n")
	if strings.Contains(screen, "s3cret") || !strings.Contains(screen, "http://x.local") || !strings.Contains(screen, "(c copies, masked)") {
		t.Fatalf("properties:\n%s", screen)
	}
	press(m, "down", "c") // URL is not copyable
	if !strings.Contains(m.status, "not marked copyable") {
		t.Fatalf("status %q", m.status)
	}
	press(m, "q") // URL is marked qr
	qr := strings.Join(m.modal.view(m, 100, 40), "\n")
	if !strings.Contains(qr, "URL") || !strings.Contains(qr, "▀") || !strings.Contains(qr, "█") {
		t.Fatalf("no QR code:\n%s", qr)
	}
	if want, _ := qrLines("http://x.local"); len(want) < 10 || !strings.Contains(qr, want[len(want)/2]) {
		t.Fatalf("the QR code is cut:\n%s", qr)
	}
	press(m, "x") // any key closes the code
	if strings.Contains(strings.Join(m.modal.view(m, 100, 30), "\n"), "█") {
		t.Fatal("the QR code stays")
	}
	cmd := press(m, "down", "c")
	m.Update(cmd())
	if got := fb.callsTo("clipboard"); len(got) != 1 || got[0] != "s3cret" {
		t.Fatalf("clipboard: %v", got)
	}
}

// callsTo returns the params of each recorded call of method.
func (f *fakeBox) callsTo(method string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c.Params)
		}
	}
	return out
}
