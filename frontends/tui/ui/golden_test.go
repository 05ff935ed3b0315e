package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/startos/model"
)

// TestGolden renders every screen at 80x24 and 120x40 and compares it with
// testdata/TestGolden/<screen>/<size>.golden; go test -update rewrites them.
func TestGolden(t *testing.T) {
	list, _ := json.Marshal(notifications())
	screens := []struct {
		name  string
		setup func(m *Model, fb *fakeBox)
	}{
		{"connecting", nil},
		{"dashboard", func(m *Model, fb *fakeBox) {}},
		{"offline", func(m *Model, fb *fakeBox) {
			m.Update(LiveMsg{Update: live.Update{Conn: &live.ConnState{Phase: live.Disconnected, RetryAt: epoch.Add(4e9),
				Err: errors.New("connect to /run/startos/rpc.sock: connection refused")}}})
		}},
		{"services", func(m *Model, fb *fakeBox) { press(m, "2", "j") }},
		{"services-filter", func(m *Model, fb *fakeBox) { press(m, "2", "/"); typeText(m, "o") }},
		{"services-empty", func(m *Model, fb *fakeBox) {
			st := fixtureState()
			st.Doc.PackageData = map[string]model.PackageDataEntry{}
			m.Update(LiveMsg{Update: live.Update{State: st}})
			press(m, "2")
		}},
		{"page", func(m *Model, fb *fakeBox) { feed(m, press(m, "2", "j", "j", "enter")); press(m, "j") }},
		{"page-asking", func(m *Model, fb *fakeBox) { press(m, "2", "j", "j", "enter") }},
		{"page-installing", func(m *Model, fb *fakeBox) { press(m, "2", "G", "enter") }},
		{"page-error", func(m *Model, fb *fakeBox) { press(m, "2", "j", "j", "j", "enter") }},
		{"page-error-long", func(m *Model, fb *fakeBox) {
			st := fixtureState()
			e := st.Doc.PackageData["lnd"]
			failed := *e.StatusInfo.Error
			failed.Details = "starting main: creating container startos.lnd: Error response from daemon: driver failed programming external connectivity on endpoint startos.lnd: Bind for 127.0.0.1:9735 failed: port is already allocated"
			e.StatusInfo.Error = &failed
			st.Doc.PackageData["lnd"] = e
			m.Update(LiveMsg{Update: live.Update{State: st}})
			press(m, "2", "j", "j", "j", "enter")
		}},
		{"logs", func(m *Model, fb *fakeBox) { press(m, "3") }},
		{"logs-search", func(m *Model, fb *fakeBox) { press(m, "3", "/"); typeText(m, "request 4"); press(m, "enter", "n") }},
		{"logs-typing", func(m *Model, fb *fakeBox) { press(m, "3", "/"); typeText(m, "took=3") }},
		{"logs-wrapped", func(m *Model, fb *fakeBox) {
			m.Update(LiveMsg{Update: live.Update{Logs: &live.LogBatch{Entries: []model.LogEntry{longLogEntry}}}})
			press(m, "3", "w")
		}},
		{"logs-scrolled", func(m *Model, fb *fakeBox) {
			m.Update(LiveMsg{Update: live.Update{Logs: &live.LogBatch{Entries: []model.LogEntry{longLogEntry}}}})
			press(m, "3", "right", "right")
		}},
		{"log-line", func(m *Model, fb *fakeBox) {
			m.Update(LiveMsg{Update: live.Update{Logs: &live.LogBatch{Entries: []model.LogEntry{longLogEntry}}}})
			press(m, "3", "enter")
		}},
		{"notifications", func(m *Model, fb *fakeBox) {
			fb.answers["notification.list"] = string(list)
			feed(m, press(m, "4"))
			press(m, "j")
		}},
		{"notification", func(m *Model, fb *fakeBox) {
			fb.answers["notification.list"] = string(list)
			feed(m, press(m, "4"))
			press(m, "enter")
		}},
		{"help", func(m *Model, fb *fakeBox) { press(m, "?") }},
		{"backups", func(m *Model, fb *fakeBox) {
			st := fixtureState()
			st.Doc.ServerInfo.LastBackup = ptr(epoch.Add(-3 * time.Hour))
			st.Doc.ServerInfo.StatusInfo.BackupProgress = map[string]model.BackupProgress{
				"bitcoind":    {Complete: true},
				"hello-world": {BytesDone: 300 << 20, BytesTotal: 1 << 30},
				"lnd":         {},
			}
			m.Update(LiveMsg{Update: live.Update{State: st}})
			fb.answers["backup.target.list"] = backupTargetsJSON
			feed(m, press(m, "5"))
			press(m, "j")
		}},
		{"backups-snapshots", func(m *Model, fb *fakeBox) {
			fb.answers["backup.target.list"] = backupTargetsJSON
			fb.answers["backup.target.info"] = `{"snapshots":[` +
				`{"id":"a1","time":"2026-01-02T02:59:00Z","kind":"box","run":"r2"},` +
				`{"id":"a2","time":"2026-01-02T02:58:00Z","kind":"package","packageId":"hello-world","version":"0.3.5.1","run":"r2"},` +
				`{"id":"a3","time":"2025-12-31T02:58:00Z","kind":"package","packageId":"bitcoind","version":"25.0.0","run":"r1"}]}`
			feed(m, press(m, "5"))
			press(m, "enter")
			typeText(m, "backup pw")
			feed(m, press(m, "enter"))
			press(m, "j")
		}},
		{"backups-add", func(m *Model, fb *fakeBox) {
			fb.answers["backup.target.list"] = "[]"
			feed(m, press(m, "5"))
			press(m, "a")
			typeText(m, "USB disk")
			press(m, "enter")
			typeText(m, "/mnt/usb/startos")
		}},
		{"settings", func(m *Model, fb *fakeBox) {
			st := fixtureState()
			st.Doc.ServerInfo.Hostname = "adjective-noun"
			st.Doc.ServerInfo.SMTP = &model.SMTPSettings{Host: "smtp.example.com", Port: 587, Security: "starttls", From: "box@example.com",
				To: "owner@example.com", Username: "box", HasPassword: true}
			m.Update(LiveMsg{Update: live.Update{State: st}})
			settingsAnswers(fb)
			feed(m, press(m, "7"))
			press(m, "j", "j")
		}},
		{"settings-power", func(m *Model, fb *fakeBox) {
			settingsAnswers(fb)
			feed(m, press(m, "7"))
			press(m, "G", "enter")
		}},
		{"settings-smtp", func(m *Model, fb *fakeBox) {
			settingsAnswers(fb)
			feed(m, press(m, "7"))
			press(m, "j", "j", "j", "j", "j", "enter")
			typeText(m, "x")
		}},
		{"settings-token", func(m *Model, fb *fakeBox) {
			settingsAnswers(fb)
			fb.answers["server.metrics-token.create"] = `{"id":"t9","name":"grafana","createdAt":"2026-01-02T03:04:05Z","token":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}`
			feed(m, press(m, "7"))
			press(m, "G", "k", "k", "enter")
			typeText(m, "grafana")
			feed(m, press(m, "enter"))
		}},
		{"form", func(m *Model, fb *fakeBox) {
			fb.answers["package.action.get-input"] = `{"spec":{"greeting":{"type":"string","name":"Greeting","description":"What the page says","nullable":false},"secret":{"type":"string","name":"Secret","masked":true},"shout":{"type":"boolean","name":"Shout"},"mode":{"type":"select","name":"Mode","values":{"plain":"Plain","fancy":"Fancy"}},"peers":{"type":"list","name":"Peers"}},"value":{"greeting":"hello","secret":"abc","shout":true,"mode":"fancy","peers":["a","b"]}}`
			press(m, "2", "j", "j", "enter")
			feed(m, press(m, "enter"))
		}},
		{"result", func(m *Model, fb *fakeBox) {
			m.showResult(actionRunMsg{pkg: "hello-world", action: "show-secret", result: model.ActionResult{Version: "0", Message: "Log in with these.", Value: ptr("hunter2hunter2"), Copyable: true}})
		}},
		{"confirm-uninstall", func(m *Model, fb *fakeBox) { press(m, "2", "j", "j", "u") }},
		{"login", func(m *Model, fb *fakeBox) {
			m.Update(LiveMsg{Update: live.Update{Conn: &live.ConnState{Phase: live.NeedLogin, Target: "http://192.168.1.7:5959", Remote: true, Err: live.ErrNeedLogin}}})
			typeText(m, "secret")
		}},
		{"setup-wizard", func(m *Model, fb *fakeBox) {
			fb.answers["setup.status"] = model.SetupIncomplete
			feed(m, m.apply(live.Update{Conn: &live.ConnState{Phase: live.NeedLogin, Target: "http://127.0.0.1:5959", Remote: true, Err: live.ErrNeedLogin}}))
			typeText(m, "correct horse")
			press(m, "tab")
			typeText(m, "correct")
			press(m, "enter")
		}},
		{"install-prompt", func(m *Model, fb *fakeBox) { press(m, "2", "i"); typeText(m, "~/Downloads/hello-world.s9pk") }},
		{"install-progress", func(m *Model, fb *fakeBox) {
			im := newInstallModal()
			im.stage, im.file, im.pkg = installRunning, "/home/me/nextcloud.s9pk", "nextcloud"
			m.modal = im
			m.upload = &live.UploadProgress{Sent: 120 << 20, Total: 120 << 20, Done: true}
		}},
	}
	for _, sc := range screens {
		for _, size := range [][2]int{{80, 24}, {120, 40}} {
			t.Run(fmt.Sprintf("%s/%dx%d", sc.name, size[0], size[1]), func(t *testing.T) {
				var m *Model
				if sc.setup == nil {
					m = New(Options{Box: newFakeBox(), Width: size[0], Height: size[1]})
				} else {
					var fb *fakeBox
					m, fb = newTestModel(t, size[0], size[1])
					sc.setup(m, fb)
				}
				golden.RequireEqual(t, []byte(m.View()))
			})
		}
	}
}

// settingsAnswers gives the fake box two SSH keys, a webhook and a metrics
// token.
func settingsAnswers(fb *fakeBox) {
	fb.answers["ssh.list"] = `[{"alg":"ssh-ed25519","fingerprint":"SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU","hostname":"me@laptop","createdAt":"2026-01-01T00:00:00Z"},` +
		`{"alg":"ecdsa-sha2-nistp256","fingerprint":"SHA256:n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg","hostname":"","createdAt":"2025-12-01T00:00:00Z"}]`
	fb.answers["server.webhook.list"] = `[{"id":"a1b2c3","url":"https://ntfy.example.com/box-alerts","levels":["warning","error"],"hasToken":true,"createdAt":"2026-01-01T00:00:00Z"}]`
	fb.answers["server.metrics-token.list"] = `[{"id":"k1","name":"prometheus on nas","createdAt":"2025-12-30T00:00:00Z"}]`
}

const backupTargetsJSON = `[{"id":"t1","name":"USB disk","url":"/mnt/usb/startos","type":"local","credentialKeys":[],"initialized":true,"lastBackup":"2026-01-02T00:00:00Z"},` +
	`{"id":"t2","name":"offsite","url":"sftp:backup@nas.local:/srv/startos","type":"sftp","credentialKeys":["sshPrivateKey"],"initialized":false,"lastBackup":null}]`

// longLogEntry is wider than any terminal the goldens use; its cause is at
// the end, where a cut line would hide it.
var longLogEntry = model.LogEntry{Timestamp: epoch, Level: "error", Cursor: "long",
	Message: "startd.install: package hello-world: loading image start9/hello-world/main:0.3.5.1 from images/x86_64/main.tar: " +
		"Error response from daemon: open /var/lib/docker/tmp/docker-import-123456/repositories: no space left on device"}
