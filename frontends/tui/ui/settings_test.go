package ui

import (
	"errors"
	"strings"
	"testing"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/startos/model"
)

// The Settings view's calls carry what was typed: rename, add and remove a
// key, save mail settings (the password masked on screen, sent as typed,
// left out when empty so the saved one stays), a test email, a webhook whose
// secret is shown once, a token created and shown once, a restart only
// after confirmation; a refused key keeps the form open with the box's
// words.
func TestSettingsFlow(t *testing.T) {
	m, fb := newTestModel(t, 100, 40)
	settingsAnswers(fb)
	feed(m, press(m, "7"))
	mustContain(t, m.View(), "[7 Settings]", "me@laptop", "ntfy.example.com/box-alerts", "prometheus on nas", "Not set: notifications are not emailed")

	// enter on Name: the form holds the current name.
	press(m, "enter")
	mustContain(t, m.View(), "Rename the box", "Adjective Noun")
	for range len("Adjective Noun") {
		press(m, "backspace")
	}
	typeText(m, "Attic")
	feed(m, press(m, "enter"))
	if got := fb.callsTo("server.set-name"); len(got) != 1 || got[0] != `{"name":"Attic"}` {
		t.Fatalf("server.set-name calls: %v", got)
	}
	mustContain(t, m.View(), "Renamed the box Attic")

	// A refused key: the form stays with the error.
	press(m, "j", "j", "j", "j") // hostname, key 1, key 2, add
	fb.errs["ssh.add"] = errors.New("ssh key: a private key; paste the public key (.pub): invalid request (4)")
	press(m, "enter")
	typeText(m, "-----BEGIN OPENSSH PRIVATE KEY-----")
	feed(m, press(m, "enter"))
	mustContain(t, m.View(), "Add an SSH key", "paste the public key")
	delete(fb.errs, "ssh.add")
	feed(m, press(m, "enter"))
	mustContain(t, m.View(), "Added the SSH key")
	mustNotContain(t, m.View(), "Public key:")

	// x on the first key asks, then removes it by fingerprint.
	press(m, "k", "k", "x")
	mustContain(t, m.View(), "Remove the SSH key?")
	feed(m, press(m, "y"))
	if !m.settings.loading {
		t.Fatal("after removing, the lists are not fetched again")
	}
	if got := fb.callsTo("ssh.remove"); len(got) != 1 || !strings.Contains(got[0], "SHA256:47DEQ") {
		t.Fatalf("ssh.remove calls: %v", got)
	}

	// Mail: the password is masked and sent; t sends a test.
	press(m, "j", "j", "j", "enter")
	mustContain(t, m.View(), "Email (SMTP)", "Host:")
	typeText(m, "smtp.example.com")
	press(m, "tab", "tab", "tab")
	typeText(m, "box@example.com")
	press(m, "tab")
	typeText(m, "me@example.com")
	press(m, "tab")
	typeText(m, "box")
	press(m, "tab")
	typeText(m, "hunter2")
	mustNotContain(t, m.View(), "hunter2")
	feed(m, press(m, "enter"))
	got := fb.callsTo("server.set-smtp")
	if len(got) != 1 || !strings.Contains(got[0], `"host":"smtp.example.com","port":587`) || !strings.Contains(got[0], `"password":"hunter2"`) ||
		!strings.Contains(got[0], `"security":"starttls"`) || !strings.Contains(got[0], `"to":"me@example.com"`) {
		t.Fatalf("server.set-smtp calls: %v", got)
	}
	st := fixtureState()
	st.Doc.ServerInfo.SMTP = &model.SMTPSettings{Host: "smtp.example.com", Port: 587, Security: "starttls", From: "box@example.com", To: "me@example.com", Username: "box", HasPassword: true}
	m.Update(LiveMsg{Update: live.Update{State: st}})
	mustContain(t, m.View(), "smtp.example.com:587 starttls", "password ••••••")
	// Saved again without typing a password: none is sent, the box keeps it.
	press(m, "enter")
	mustContain(t, m.View(), "smtp.example.com")
	for range 6 {
		press(m, "tab")
	}
	feed(m, press(m, "enter"))
	if got := fb.callsTo("server.set-smtp"); len(got) != 2 || strings.Contains(got[1], "password") {
		t.Fatalf("second server.set-smtp: %v", got)
	}
	feed(m, press(m, "t"))
	if got := fb.callsTo("server.test-smtp"); len(got) != 1 {
		t.Fatalf("server.test-smtp calls: %v", got)
	}
	mustContain(t, m.View(), "Sent a test email to me@example.com")

	// A webhook: its secret is shown once.
	fb.answers["server.webhook.add"] = `{"id":"d4e5f6","url":"https://hooks.example.com/x","levels":[],"hasToken":false,"createdAt":"2026-01-02T00:00:00Z","secret":"s3cr3t-signing"}`
	press(m, "j", "j", "enter")
	mustContain(t, m.View(), "Add a webhook")
	typeText(m, "https://hooks.example.com/x")
	press(m, "tab")
	feed(m, press(m, "enter"))
	if got := fb.callsTo("server.webhook.add"); len(got) != 1 || got[0] != `{"url":"https://hooks.example.com/x"}` {
		t.Fatalf("server.webhook.add calls: %v", got)
	}
	mustContain(t, m.View(), "Webhook added", "s3cr3t-signing")
	press(m, "esc")
	mustNotContain(t, m.View(), "s3cr3t-signing")
	press(m, "k", "t")
	feed(m, press(m, "t"))
	if got := fb.callsTo("server.webhook.test"); len(got) != 1 || got[0] != `{"id":"a1b2c3"}` {
		t.Fatalf("server.webhook.test calls: %v", got)
	}

	// Restart asks first; n cancels, y calls.
	press(m, "G", "k", "enter")
	mustContain(t, m.View(), "Restart the box?")
	press(m, "n")
	if len(fb.callsTo("server.restart")) != 0 {
		t.Fatal("restart called without confirmation")
	}
	press(m, "enter")
	feed(m, press(m, "y"))
	if got := fb.callsTo("server.restart"); len(got) != 1 {
		t.Fatalf("server.restart calls: %v", got)
	}
	mustContain(t, m.View(), "Restarting the box…")
}

// The tab bar: full names with room, full names packed at 100 columns (the
// tmux tests' width), short names packed at 80; all seven tabs whole.
func TestTabBarWidths(t *testing.T) {
	for _, c := range []struct {
		w           int
		want, avoid string
	}{
		{120, "   4 Notifications (2)   ", ""},
		{100, "4 Notifications (2)", "4 Notes"},
		{80, "4 Notes (2)", "Notifications"},
	} {
		m, _ := newTestModel(t, c.w, 24)
		bar := strings.Split(m.View(), "\n")[1]
		mustContain(t, bar, c.want, "7 Settings")
		if c.avoid != "" {
			mustNotContain(t, bar, c.avoid)
		}
	}
}
