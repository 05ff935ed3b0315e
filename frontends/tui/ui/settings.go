package ui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/startos-go/startos/startos/model"
)

// settingsView is the Settings tab: the box's name and hostname and its SMTP
// settings (from the state document), its SSH keys, webhooks and metrics
// tokens (fetched: they live in the private document), and power. It is one
// list of rows; enter does a row's main thing, x removes, t tests.
type settingsView struct {
	sshKeys []model.SSHKey
	hooks   []model.Webhook
	tokens  []model.MetricsToken
	loaded  bool
	loading bool
	err     error
	cursor  int
}

type settingsRowKind int

const (
	rowName settingsRowKind = iota
	rowHostname
	rowSSHKey
	rowSSHAdd
	rowSMTP
	rowWebhook
	rowWebhookAdd
	rowToken
	rowTokenCreate
	rowRestart
	rowShutdown
)

// settingsRow is one line the cursor can rest on; id is the key's
// fingerprint, the webhook's or the token's id.
type settingsRow struct {
	kind    settingsRowKind
	id      string
	section string // the heading above it, on the first row of a section
	text    string
}

// Results of the settings calls.
type (
	settingsListMsg struct {
		keys   []model.SSHKey
		hooks  []model.Webhook
		tokens []model.MetricsToken
		err    error
	}
	// settingsDoneMsg ends a call made from a form or a confirmation;
	// reveal, when set, shows a secret the box answered with, once.
	settingsDoneMsg struct {
		what, done string
		err        error
		reveal     *resultModal
	}
)

func settingsListCmd(b Box) tea.Cmd {
	return func() tea.Msg {
		var msg settingsListMsg
		msg.keys, msg.hooks, msg.tokens = []model.SSHKey{}, []model.Webhook{}, []model.MetricsToken{}
		msg.err = errors.Join(
			call(b, callTimeout, "ssh.list", model.Empty{}, &msg.keys),
			call(b, callTimeout, "server.webhook.list", model.Empty{}, &msg.hooks),
			call(b, callTimeout, "server.metrics-token.list", model.Empty{}, &msg.tokens))
		return msg
	}
}

// settingsCallCmd makes one call; what is for "could not <what>", done is
// the status line on success.
func settingsCallCmd(b Box, what, done, method string, params any) tea.Cmd {
	return func() tea.Msg {
		return settingsDoneMsg{what: what, done: done, err: call(b, callTimeout, method, params, nil)}
	}
}

func settingsFail(what string, err error) tea.Cmd {
	return func() tea.Msg { return settingsDoneMsg{what: what, err: err} }
}

func (m *Model) fetchSettings() tea.Cmd {
	if m.box == nil {
		return nil
	}
	m.settings.loading = true
	return settingsListCmd(m.box)
}

// settingsMsg takes a settings call's result.
func (m *Model) settingsMsg(msg tea.Msg) tea.Cmd {
	v := &m.settings
	switch msg := msg.(type) {
	case settingsListMsg:
		v.loading = false
		if msg.err != nil {
			v.err = msg.err
			return nil
		}
		v.loaded, v.err = true, nil
		v.sshKeys, v.hooks, v.tokens = msg.keys, msg.hooks, msg.tokens
		return nil
	case settingsDoneMsg:
		if f, ok := m.modal.(*fieldsModal); ok {
			if msg.err != nil {
				f.busy, f.err = false, msg.err
				return nil
			}
			m.modal = nil
		}
		if msg.err != nil {
			m.done(msg.what, msg.err)
		} else {
			m.setStatus(msg.done, true)
			if msg.reveal != nil {
				m.modal = msg.reveal
			}
		}
		return m.fetchSettings()
	}
	return nil
}

func (m *Model) serverInfo() model.ServerInfo {
	if m.state == nil {
		return model.ServerInfo{}
	}
	return m.state.Doc.ServerInfo
}

// settingsRows lists the rows in screen order.
func (m *Model) settingsRows() []settingsRow {
	v := &m.settings
	si := m.serverInfo()
	rows := []settingsRow{
		{kind: rowName, section: "Server", text: fmt.Sprintf("%-10s %s", "Name", cmpOr(si.Name, "—"))},
		{kind: rowHostname, text: fmt.Sprintf("%-10s %s", "Hostname", cmpOr(si.Hostname, "—"))},
	}
	for i, k := range v.sshKeys {
		sec := ""
		if i == 0 {
			sec = "SSH keys"
		}
		rows = append(rows, settingsRow{kind: rowSSHKey, id: k.Fingerprint, section: sec,
			text: fmt.Sprintf("%-11s %s  %s  %s", strings.TrimPrefix(k.Alg, "ssh-"), k.Fingerprint, cmpOr(k.Hostname, "(no comment)"), stDim.Render("added "+ago(m.now(), k.CreatedAt)))})
	}
	add := settingsRow{kind: rowSSHAdd, text: "+ Add an SSH key"}
	if len(v.sshKeys) == 0 {
		add.section = "SSH keys"
	}
	rows = append(rows, add)

	smtp := "Not set: notifications are not emailed. Enter to set a mail server."
	if s := si.SMTP; s != nil {
		pw := "no password"
		if s.HasPassword {
			pw = "password ••••••"
		}
		to := cmpOr(s.To, "nobody (no recipient)")
		smtp = fmt.Sprintf("%s:%d %s · from %s → %s · %s", s.Host, s.Port, s.Security, s.From, to, pw)
	}
	rows = append(rows, settingsRow{kind: rowSMTP, section: "Email (SMTP)", text: smtp})

	for i, h := range v.hooks {
		sec := ""
		if i == 0 {
			sec = "Webhooks"
		}
		levels := "all levels"
		if len(h.Levels) > 0 {
			ls := make([]string, len(h.Levels))
			for j, l := range h.Levels {
				ls[j] = string(l)
			}
			levels = strings.Join(ls, ",")
		}
		tok := ""
		if h.HasToken {
			tok = " · token"
		}
		rows = append(rows, settingsRow{kind: rowWebhook, id: h.ID, section: sec, text: h.URL + stDim.Render(" · "+levels+tok)})
	}
	add = settingsRow{kind: rowWebhookAdd, text: "+ Add a webhook"}
	if len(v.hooks) == 0 {
		add.section = "Webhooks"
	}
	rows = append(rows, add)

	for i, tk := range v.tokens {
		sec := ""
		if i == 0 {
			sec = "Metrics tokens (GET /metrics)"
		}
		rows = append(rows, settingsRow{kind: rowToken, id: tk.ID, section: sec, text: fmt.Sprintf("%-20s %s", tk.Name, stDim.Render("created "+ago(m.now(), tk.CreatedAt)))})
	}
	add = settingsRow{kind: rowTokenCreate, text: "+ Create a metrics token"}
	if len(v.tokens) == 0 {
		add.section = "Metrics tokens (GET /metrics)"
	}
	rows = append(rows, add,
		settingsRow{kind: rowRestart, section: "Power", text: "Restart the box"},
		settingsRow{kind: rowShutdown, text: "Shut down the box"})
	return rows
}

func (m *Model) settingsKey(k tea.KeyMsg) tea.Cmd {
	v := &m.settings
	rows := m.settingsRows()
	v.cursor = min(v.cursor, len(rows)-1)
	if i, ok := m.listMove(k, v.cursor, len(rows)); ok {
		v.cursor = i
		return nil
	}
	row := rows[v.cursor]
	switch {
	case key.Matches(k, keys.Enter):
		return m.settingsEnter(row)
	case key.Matches(k, keys.Delete):
		return m.settingsRemove(row)
	case key.Matches(k, keys.SendTest):
		return m.settingsTest(row)
	}
	return nil
}

// settingsEnter opens the form or confirmation of a row.
func (m *Model) settingsEnter(row settingsRow) tea.Cmd {
	si := m.serverInfo()
	switch row.kind {
	case rowName:
		f := newFieldsModal("Rename the box", "rename", []string{"Name"}, []bool{false},
			"The name people see: 1 to 64 printable characters.",
			func(m *Model, vals []string) tea.Cmd {
				return settingsCallCmd(m.box, "rename the box", "Renamed the box "+vals[0], "server.set-name", model.SetNameParams{Name: vals[0]})
			})
		f.inputs[0].Set(si.Name)
		m.modal = f
	case rowHostname:
		f := newFieldsModal("Set the hostname", "set hostname", []string{"Hostname"}, []bool{false},
			"One lowercase label (a-z, 0-9, -), 1 to 63 characters; the box is <hostname>.local on the LAN.",
			func(m *Model, vals []string) tea.Cmd {
				return settingsCallCmd(m.box, "set the hostname", "The hostname is now "+vals[0], "server.set-hostname", model.SetHostnameParams{Hostname: &vals[0]})
			})
		f.inputs[0].Set(si.Hostname)
		m.modal = f
	case rowSSHAdd:
		m.modal = newFieldsModal("Add an SSH key", "add key", []string{"Public key"}, []bool{false},
			"One public key line, as in ~/.ssh/id_ed25519.pub: type, key and an optional comment.",
			func(m *Model, vals []string) tea.Cmd {
				return settingsCallCmd(m.box, "add the key", "Added the SSH key", "ssh.add", model.SSHAddParams{Key: vals[0]})
			})
	case rowSSHKey, rowWebhook, rowToken:
		return m.settingsRemove(row)
	case rowSMTP:
		m.modal = m.smtpForm()
	case rowWebhookAdd:
		f := newFieldsModal("Add a webhook", "add webhook", []string{"URL", "Bearer token"}, []bool{false, true},
			"Notifications are POSTed as JSON (ntfy and Gotify read it). The token is optional; the signing secret is shown once.",
			func(m *Model, vals []string) tea.Cmd {
				b := m.box
				return func() tea.Msg {
					var added model.WebhookAdded
					err := call(b, callTimeout, "server.webhook.add", model.WebhookAddParams{URL: vals[0], Token: vals[1]}, &added)
					return settingsDoneMsg{what: "add the webhook", done: "Added the webhook " + added.ID, err: err,
						reveal: &resultModal{title: "Webhook added", message: "Each delivery is signed with this secret (X-StartOS-Signature). It is shown only now.",
							rows: []resultRow{{name: "Signing secret", value: added.Secret, copyable: true}}}}
				}
			})
		f.optional = []bool{false, true}
		m.modal = f
	case rowTokenCreate:
		m.modal = newFieldsModal("Create a metrics token", "create", []string{"Name"}, []bool{false},
			"Says what scrapes with it, such as \"prometheus on nas\". The token is shown only once.",
			func(m *Model, vals []string) tea.Cmd {
				b := m.box
				return func() tea.Msg {
					var created model.MetricsTokenCreated
					err := call(b, callTimeout, "server.metrics-token.create", model.MetricsTokenCreateParams{Name: vals[0]}, &created)
					return settingsDoneMsg{what: "create the token", done: "Created the metrics token " + vals[0], err: err,
						reveal: &resultModal{title: "Metrics token created", message: "Scrape GET /metrics with \"Authorization: Bearer <token>\". It is shown only now.",
							rows: []resultRow{{name: "Token", value: created.Token, copyable: true}}}}
				}
			})
	case rowRestart, rowShutdown:
		method, verb, done := "server.restart", "restart", "Restarting the box…"
		if row.kind == rowShutdown {
			method, verb, done = "server.shutdown", "shut down", "Shutting down the box…"
		}
		m.modal = &confirmModal{
			title: strings.ToUpper(verb[:1]) + verb[1:] + " the box?",
			body:  "The services are stopped cleanly first; this console loses the box until it is back. Refused while an install, update or restore runs.",
			options: []confirmOption{{key: "y", label: verb, run: func(m *Model) tea.Cmd {
				return settingsCallCmd(m.box, verb+" the box", done, method, model.PowerParams{})
			}}},
		}
	}
	return nil
}

// smtpForm is server.set-smtp, filled with the saved settings; an empty
// password keeps the saved one.
func (m *Model) smtpForm() *fieldsModal {
	saved := m.serverInfo().SMTP
	labels := []string{"Host", "Port", "Security", "From", "To", "Username", "Password"}
	f := newFieldsModal("Email (SMTP)", "save", labels, []bool{false, false, false, false, false, false, true},
		"Security is starttls (usually port 587) or tls (465). Leave the password empty to keep the saved one.",
		func(m *Model, vals []string) tea.Cmd {
			port, err := strconv.ParseUint(vals[1], 10, 16)
			if err != nil || port == 0 {
				return settingsFail("save the mail settings", fmt.Errorf("port %q: want a number from 1 to 65535", vals[1]))
			}
			v := model.SMTPValue{Host: vals[0], Port: uint16(port), Security: vals[2], From: vals[3], To: vals[4], Username: vals[5]}
			if saved != nil {
				v.NotifyLevels = saved.NotifyLevels
			}
			if vals[6] != "" {
				v.Password = &vals[6]
			}
			return settingsCallCmd(m.box, "save the mail settings", "Saved the mail settings", "server.set-smtp", v)
		})
	f.optional = []bool{false, false, false, false, true, true, true}
	vals := []string{"", "587", model.SMTPSecurityStartTLS, "", "", "", ""}
	if saved != nil {
		vals = []string{saved.Host, strconv.Itoa(int(saved.Port)), saved.Security, saved.From, saved.To, saved.Username, ""}
	}
	for i, s := range vals {
		f.inputs[i].Set(s)
	}
	return f
}

// settingsRemove asks before removing a key, webhook or token, or clearing
// the mail settings.
func (m *Model) settingsRemove(row settingsRow) tea.Cmd {
	var title, body, label, what, done, method string
	var params any
	switch row.kind {
	case rowSSHKey:
		title, body, label = "Remove the SSH key?", row.id+" can no longer log in.", "remove"
		what, done, method, params = "remove the key", "Removed the SSH key", "ssh.remove", model.SSHRemoveParams{Fingerprint: row.id}
	case rowWebhook:
		title, body, label = "Remove the webhook?", "Notifications are no longer sent to it.", "remove"
		what, done, method, params = "remove the webhook", "Removed the webhook", "server.webhook.remove", model.WebhookIDParams{ID: row.id}
	case rowToken:
		title, body, label = "Revoke the metrics token?", "Scrapes with it are refused at once.", "revoke"
		what, done, method, params = "revoke the token", "Revoked the metrics token", "server.metrics-token.revoke", model.MetricsTokenRevokeParams{ID: row.id}
	case rowSMTP:
		if m.serverInfo().SMTP == nil {
			return nil
		}
		title, body, label = "Clear the mail settings?", "The server and password are removed; nothing is emailed.", "clear"
		what, done, method, params = "clear the mail settings", "Cleared the mail settings", "server.clear-smtp", model.Empty{}
	default:
		return nil
	}
	m.modal = &confirmModal{title: title, body: body, options: []confirmOption{{key: "y", label: label, run: func(m *Model) tea.Cmd {
		return settingsCallCmd(m.box, what, done, method, params)
	}}}}
	return nil
}

// settingsTest sends a test email or a test webhook delivery now.
func (m *Model) settingsTest(row settingsRow) tea.Cmd {
	switch row.kind {
	case rowSMTP:
		s := m.serverInfo().SMTP
		if s == nil {
			m.setStatus("set a mail server first (enter)", false)
			return nil
		}
		m.setStatus("Sending a test email…", true)
		return settingsCallCmd(m.box, "send a test email", "Sent a test email to "+s.To, "server.test-smtp", model.SMTPTestParams{})
	case rowWebhook:
		m.setStatus("Sending a test notification…", true)
		return settingsCallCmd(m.box, "test the webhook", "The webhook answered the test", "server.webhook.test", model.WebhookIDParams{ID: row.id})
	}
	return nil
}

func (m *Model) settingsFooter() []key.Binding {
	rows := m.settingsRows()
	row := rows[min(m.settings.cursor, len(rows)-1)]
	switch row.kind {
	case rowSSHKey, rowToken:
		return shortHelp(keys.Up, keys.Down, bind(nil, "x", "remove"), keys.Help)
	case rowWebhook:
		return shortHelp(keys.Up, keys.Down, keys.SendTest, bind(nil, "x", "remove"), keys.Help)
	case rowSMTP:
		return shortHelp(keys.Up, keys.Down, bind(nil, "enter", "set"), keys.SendTest, bind(nil, "x", "clear"), keys.Help)
	case rowName, rowHostname:
		return shortHelp(keys.Up, keys.Down, bind(nil, "enter", "change"), keys.Help)
	}
	return shortHelp(keys.Up, keys.Down, keys.Enter, keys.Help)
}

func (m *Model) viewSettings(w, h int) []string {
	v := &m.settings
	rows := m.settingsRows()
	cur := min(v.cursor, len(rows)-1)
	var lines []string
	curLine := 0
	for i, r := range rows {
		if r.section != "" {
			if len(lines) > 0 {
				lines = append(lines, "")
			}
			lines = append(lines, " "+stHeader.Render(r.section))
		}
		marker, text := "  ", r.text
		if i == cur {
			marker, text, curLine = "> ", stSelected.Render(fit(text, w-4)), len(lines)
		}
		lines = append(lines, fit(" "+marker+text, w))
		if r.kind == rowSSHAdd && v.err != nil {
			lines = append(lines, " "+stBad.Render(fit("could not list keys, webhooks and tokens: "+v.err.Error(), w-2)))
		} else if r.kind == rowSSHAdd && !v.loaded {
			lines = append(lines, "   "+stDim.Render("Loading…"))
		}
	}
	// Keep the cursor's line (and the heading above a section's first row)
	// in view.
	start := scrollTo(0, curLine, h, len(lines))
	if curLine > 0 && start == curLine {
		start--
	}
	return lines[start:min(start+h, len(lines))]
}
