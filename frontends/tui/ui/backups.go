package ui

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/startos-go/startos/startos/model"
)

// backupsView is the Backups tab: the box's backup targets (fetched, as
// targets live in the private document), the running backup's progress
// (from the state document) and, once a target's password is given, its
// snapshots, from which a package is restored.
type backupsView struct {
	targets  []model.BackupTarget
	selected string // target id under the cursor
	loaded   bool
	loading  bool
	err      error

	// The snapshots of one target, listed with its password, which is kept
	// (in memory only) for a restore from the list until the list closes.
	snapsOf   string
	password  string
	snaps     []model.BackupSnapshot
	snapIndex int
	restoring string // a package being restored
}

func (v *backupsView) index() int {
	return slices.IndexFunc(v.targets, func(t model.BackupTarget) bool { return t.ID == v.selected })
}

func (v *backupsView) current() (model.BackupTarget, bool) {
	if i := v.index(); i >= 0 {
		return v.targets[i], true
	}
	return model.BackupTarget{}, false
}

func (v *backupsView) closeSnapshots() {
	v.snapsOf, v.password, v.snaps, v.snapIndex = "", "", nil, 0
}

// Results of the backup calls.
type (
	backupTargetsMsg struct {
		items []model.BackupTarget
		err   error
	}
	// backupDoneMsg ends a call made from a form (add target, back up now)
	// or a restore.
	backupDoneMsg struct {
		method string
		what   string // for a failure: "could not <what>: …"
		done   string // for a success, in words
		err    error
	}
	backupInfoMsg struct {
		target, password string
		info             model.BackupTargetInfo
		err              error
	}
)

func backupTargetsCmd(b Box) tea.Cmd {
	return func() tea.Msg {
		var items []model.BackupTarget
		err := call(b, callTimeout, "backup.target.list", model.Empty{}, &items)
		return backupTargetsMsg{items: items, err: err}
	}
}

func backupCallCmd(b Box, what, done, method string, params any) tea.Cmd {
	return func() tea.Msg {
		timeout := callTimeout
		if method == "package.backup.restore" {
			timeout = uploadTimeout // it returns when the package is back
		}
		return backupDoneMsg{method: method, what: what, done: done, err: call(b, timeout, method, params, nil)}
	}
}

func backupInfoCmd(b Box, target, password string) tea.Cmd {
	return func() tea.Msg {
		var info model.BackupTargetInfo
		err := call(b, actionTimeout, "backup.target.info", model.BackupTargetPasswordParams{TargetID: target, Password: password}, &info)
		return backupInfoMsg{target: target, password: password, info: info, err: err}
	}
}

func (m *Model) fetchTargets() tea.Cmd {
	if m.box == nil {
		return nil
	}
	m.backups.loading = true
	return backupTargetsCmd(m.box)
}

// backupsMsg takes a backup call's result.
func (m *Model) backupsMsg(msg tea.Msg) tea.Cmd {
	v := &m.backups
	switch msg := msg.(type) {
	case backupTargetsMsg:
		v.loading = false
		if msg.err != nil {
			v.err = msg.err
			return nil
		}
		v.loaded, v.err = true, nil
		v.targets = msg.items
		sort.SliceStable(v.targets, func(i, j int) bool { return v.targets[i].Name < v.targets[j].Name })
		if v.index() < 0 && len(v.targets) > 0 {
			v.selected = v.targets[0].ID
		}
		return nil
	case backupDoneMsg:
		if msg.method == "package.backup.restore" {
			v.restoring = ""
		}
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
		}
		return m.fetchTargets()
	case backupInfoMsg:
		if f, ok := m.modal.(*fieldsModal); ok {
			if msg.err != nil {
				f.busy, f.err = false, msg.err
				return nil
			}
			m.modal = nil
		}
		if msg.err != nil {
			m.done("list the snapshots", msg.err)
			return nil
		}
		v.snapsOf, v.password, v.snaps, v.snapIndex = msg.target, msg.password, msg.info.Snapshots, 0
		return m.fetchTargets() // the target is now initialized
	}
	return nil
}

func (m *Model) backupsKey(k tea.KeyMsg) tea.Cmd {
	v := &m.backups
	if v.snapsOf != "" {
		return m.snapshotsKey(k)
	}
	if i, ok := m.listMove(k, max(v.index(), 0), len(v.targets)); ok {
		v.selected = v.targets[i].ID
		return nil
	}
	switch {
	case key.Matches(k, keys.AddTarget):
		m.modal = newFieldsModal("Add a backup target", "add target", []string{"Name", "Repository"}, []bool{false, false},
			"The repository is a restic repository: an absolute folder (a mounted disk), sftp:user@host:/path, s3:… or rest:….",
			func(m *Model, vals []string) tea.Cmd {
				return backupCallCmd(m.box, "add the target "+vals[0], "Added the target "+vals[0], "backup.target.add", model.BackupTargetAddParams{Name: vals[0], URL: vals[1]})
			})
		return nil
	}
	t, ok := v.current()
	if !ok {
		return nil
	}
	switch {
	case key.Matches(k, keys.Delete):
		m.modal = &confirmModal{
			title: "Forget the target " + t.Name + "?",
			body:  "Its repository (" + t.URL + ") is left as it is; add it again to use it.",
			options: []confirmOption{{key: "y", label: "forget it", run: func(m *Model) tea.Cmd {
				return backupCallCmd(m.box, "forget the target "+t.Name, "Forgot the target "+t.Name, "backup.target.remove", model.BackupTargetIDParams{TargetID: t.ID})
			}}},
		}
	case key.Matches(k, keys.BackupNow):
		m.modal = newFieldsModal("Back up to "+t.Name, "back up", []string{"Backup password"}, []bool{true},
			"Every installed service and the box itself are backed up; each service is stopped during its own backup.",
			func(m *Model, vals []string) tea.Cmd {
				return backupCallCmd(m.box, "back up to "+t.Name, "Backing up to "+t.Name+"…", "backup.create", model.BackupCreateParams{TargetID: t.ID, Password: vals[0]})
			})
	case key.Matches(k, keys.Enter):
		m.modal = newFieldsModal("Snapshots in "+t.Name, "list snapshots", []string{"Backup password"}, []bool{true},
			"The password opens the repository; it is kept in this console's memory while the list is open, for a restore.",
			func(m *Model, vals []string) tea.Cmd { return backupInfoCmd(m.box, t.ID, vals[0]) })
	}
	return nil
}

func (m *Model) snapshotsKey(k tea.KeyMsg) tea.Cmd {
	v := &m.backups
	if key.Matches(k, keys.Back) {
		v.closeSnapshots()
		return nil
	}
	if i, ok := m.listMove(k, v.snapIndex, len(v.snaps)); ok {
		v.snapIndex = i
		return nil
	}
	if !key.Matches(k, keys.Enter, keys.RestoreSnapshot) || v.snapIndex >= len(v.snaps) {
		return nil
	}
	s := v.snaps[v.snapIndex]
	if s.Kind != "package" {
		m.setStatus("a box snapshot is restored on a fresh box, by start-cli setup execute with a backup recovery source", false)
		return nil
	}
	target, password := v.snapsOf, v.password
	title := m.title(s.PackageID)
	body := fmt.Sprintf("%s %s as backed up %s. ", title, s.Version, s.Time.In(m.loc).Format("2006-01-02 15:04"))
	if _, installed := m.packageEntry(s.PackageID); installed {
		body += "Its current data is replaced (kept until the restore succeeds); the service is stopped meanwhile."
	} else {
		body += "It is not installed: it is installed from the backed-up package, then its data is put back."
	}
	m.modal = &confirmModal{
		title: "Restore " + title + "?",
		body:  body,
		options: []confirmOption{{key: "y", label: "restore", run: func(m *Model) tea.Cmd {
			m.backups.restoring = s.PackageID
			return backupCallCmd(m.box, "restore "+title, "Restored "+title, "package.backup.restore",
				model.BackupRestoreParams{TargetID: target, Password: password, IDs: []string{s.PackageID}, Snapshot: s.ID})
		}}},
	}
	return nil
}

// lastBoxBackup is serverInfo.lastBackup, zero when never.
func (m *Model) lastBoxBackup() time.Time {
	if m.state == nil || m.state.Doc.ServerInfo.LastBackup == nil {
		return time.Time{}
	}
	return *m.state.Doc.ServerInfo.LastBackup
}

func (m *Model) packageEntry(id string) (model.PackageDataEntry, bool) {
	if m.state == nil {
		return model.PackageDataEntry{}, false
	}
	e, ok := m.state.Doc.PackageData[id]
	return e, ok
}

func (m *Model) backupsFooter() []key.Binding {
	if m.backups.snapsOf != "" {
		return shortHelp(keys.Up, keys.Down, bind(nil, "enter/r", "restore"), bind(nil, "esc", "back to targets"), keys.Help)
	}
	return shortHelp(keys.Up, keys.Down, keys.AddTarget, keys.BackupNow, bind(nil, "enter", "snapshots"), bind(nil, "x", "forget"), keys.Help)
}

func (m *Model) viewBackups(w, h int) []string {
	v := &m.backups
	var lines []string
	last := "never"
	if m.state != nil && m.state.Doc.ServerInfo.LastBackup != nil {
		last = ago(m.now(), *m.state.Doc.ServerInfo.LastBackup)
	}
	lines = append(lines, " "+stBold.Render("Backups")+stDim.Render(" · last backup of the box: "+last))
	if m.state != nil {
		if pr := m.state.Doc.ServerInfo.StatusInfo.BackupProgress; len(pr) > 0 {
			lines = append(lines, "", " "+stHeader.Render("Backup running"))
			ids := make([]string, 0, len(pr))
			for id := range pr {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				lines = append(lines, "   "+backupProgressLine(m.title(id), pr[id], w-4))
			}
		}
	}
	if v.restoring != "" {
		lines = append(lines, "", " "+stWarn.Render("Restoring "+m.title(v.restoring)+"…"))
	}
	lines = append(lines, "", " "+stHeader.Render("Targets"))
	switch {
	case v.err != nil:
		lines = append(lines, " "+stBad.Render("backup.target.list: "+v.err.Error()))
	case !v.loaded:
		lines = append(lines, " "+stDim.Render("Loading targets…"))
	case len(v.targets) == 0:
		lines = append(lines, " No backup targets yet: press a to add a folder, a disk or a server.")
	}
	cur := max(v.index(), 0)
	for i, t := range v.targets {
		marker := "  "
		if i == cur && v.snapsOf == "" {
			marker = "> "
		}
		tLast := "never backed up"
		if t.LastBackup != nil {
			tLast = "last " + ago(m.now(), *t.LastBackup)
		}
		name := fit(t.Name, 16)
		if i == cur && v.snapsOf == "" {
			name = stSelected.Render(name)
		}
		lines = append(lines, fit(marker+name+" "+fmt.Sprintf("%-6s", t.Type)+" "+stDim.Render(fit(tLast, 20))+" "+t.URL, w))
	}
	if v.snapsOf != "" {
		lines = append(lines, m.viewSnapshots(w, h-len(lines)-1)...)
	}
	return lines
}

func (m *Model) viewSnapshots(w, h int) []string {
	v := &m.backups
	name := v.snapsOf
	if i := slices.IndexFunc(v.targets, func(t model.BackupTarget) bool { return t.ID == v.snapsOf }); i >= 0 {
		name = v.targets[i].Name
	}
	lines := []string{"", " " + stHeader.Render(fmt.Sprintf("Snapshots in %s (%d)", name, len(v.snaps)))}
	if len(v.snaps) == 0 {
		return append(lines, " Nothing backed up to this target yet.")
	}
	rows := max(h-len(lines), 1)
	start := scrollTo(0, v.snapIndex, rows, len(v.snaps))
	for i := start; i < min(start+rows, len(v.snaps)); i++ {
		s := v.snaps[i]
		marker := "  "
		what := "the box"
		if s.Kind == "package" {
			what = m.title(s.PackageID) + " " + s.Version
		}
		what = fit(what, max(w-50, 12))
		if i == v.snapIndex {
			marker, what = "> ", stSelected.Render(what)
		}
		lines = append(lines, fit(marker+stDim.Render(s.Time.In(m.loc).Format("2006-01-02 15:04"))+"  "+fmt.Sprintf("%-8s", s.Kind)+" "+what+"  "+stDim.Render("run "+s.Run), w))
	}
	return lines
}

// backupProgressLine is one package's backup progress: a bar while restic
// reports bytes, then done or the error.
func backupProgressLine(title string, p model.BackupProgress, w int) string {
	head := fit(title, 20) + " "
	switch {
	case p.Error != "":
		return head + stBad.Render("failed: "+p.Error)
	case p.Complete:
		return head + stOK.Render("done")
	case p.BytesTotal == 0:
		return head + stDim.Render("waiting…")
	}
	frac := fmt.Sprintf(" %s / %s", humanBytes(int64(p.BytesDone)), humanBytes(int64(p.BytesTotal)))
	return head + bar(float64(p.BytesDone), float64(p.BytesTotal), max(w-len(head)-len(frac)-2, 5)) + frac
}

// fieldsModal is a small form of text fields (secrets masked) whose last
// enter submits; the call's error shows in it, and success closes it.
type fieldsModal struct {
	title, verb, note string
	labels            []string
	optional          []bool // fields that may be left empty; nil: none
	inputs            []lineInput
	focus             int
	busy              bool
	err               error
	submit            func(m *Model, values []string) tea.Cmd
}

func newFieldsModal(title, verb string, labels []string, secret []bool, note string, submit func(*Model, []string) tea.Cmd) *fieldsModal {
	f := &fieldsModal{title: title, verb: verb, note: note, labels: labels, inputs: make([]lineInput, len(labels)), submit: submit}
	for i := range f.inputs {
		f.inputs[i].mask = secret[i]
	}
	return f
}

func (f *fieldsModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	if f.busy {
		return nil
	}
	switch {
	case key.Matches(k, keys.Back):
		m.modal = nil
		return nil
	case k.Type == tea.KeyTab || k.Type == tea.KeyDown:
		f.focus = (f.focus + 1) % len(f.inputs)
		return nil
	case k.Type == tea.KeyShiftTab || k.Type == tea.KeyUp:
		f.focus = (f.focus + len(f.inputs) - 1) % len(f.inputs)
		return nil
	case k.Type == tea.KeyEnter:
		if f.focus < len(f.inputs)-1 {
			f.focus++
			return nil
		}
		vals := make([]string, len(f.inputs))
		for i := range f.inputs {
			vals[i] = strings.TrimSpace(f.inputs[i].Value())
			if f.inputs[i].mask {
				vals[i] = f.inputs[i].Value() // a password is taken as typed
			}
			if vals[i] == "" && (f.optional == nil || !f.optional[i]) {
				f.focus, f.err = i, errors.New(f.labels[i]+": required")
				return nil
			}
		}
		f.busy, f.err = true, nil
		return f.submit(m, vals)
	}
	f.inputs[f.focus].handle(k)
	return nil
}

func (f *fieldsModal) footer() []key.Binding {
	return shortHelp(bind(nil, "enter", f.verb), keys.NextField, bind(nil, "esc", "cancel"))
}

func (f *fieldsModal) view(m *Model, w, h int) []string {
	var lines []string
	if f.note != "" {
		lines = append(lines, stDim.Render(f.note), "")
	}
	for i, l := range f.labels {
		lines = append(lines, fmt.Sprintf("%-16s", l+":")+" "+f.inputs[i].view(max(min(w-6, 76)-18, 10), !f.busy && i == f.focus))
	}
	switch {
	case f.busy:
		lines = append(lines, "", stDim.Render("Working…"))
	case f.err != nil:
		lines = append(lines, "", stBad.Render(f.err.Error()))
	}
	return boxed(f.title, lines, w, h)
}
