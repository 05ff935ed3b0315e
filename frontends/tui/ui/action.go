package ui

import (
	"encoding/json"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// runAction starts an action of a package: a form first when it takes
// input, a confirmation first when it warns. The daemon enforces the
// statuses it may run in.
func (m *Model) runAction(pkg, aid string) tea.Cmd {
	a := m.manifest(pkg).Actions[aid]
	if a.HasInput() {
		m.setStatus("loading the form of "+a.Name+"…", true)
		return actionInputCmd(m.box, pkg, aid)
	}
	run := func(m *Model) tea.Cmd {
		m.setStatus("running "+a.Name+"…", true)
		return actionRunCmd(m.box, pkg, aid, nil)
	}
	if a.Warning != "" {
		m.modal = &confirmModal{title: "Run " + a.Name + "?", body: a.Warning, options: []confirmOption{{key: "y", label: "run it", run: run}}}
		return nil
	}
	return run(m)
}

// openForm shows the action's form from the input spec the daemon gave
// (or, if it gave none, the manifest's).
func (m *Model) openForm(msg actionInputMsg) tea.Cmd {
	a := m.manifest(msg.pkg).Actions[msg.action]
	name := cmpOr(a.Name, msg.action)
	if msg.err != nil {
		m.setStatus(name+": "+msg.err.Error(), false)
		return nil
	}
	spec := a.InputSpec
	if len(msg.input.Spec) > 0 {
		spec, _ = json.Marshal(msg.input.Spec)
	}
	var value json.RawMessage
	if len(msg.input.Value) > 0 {
		value, _ = json.Marshal(msg.input.Value)
	}
	fields, err := parseSpec(spec, value)
	if err != nil {
		m.setStatus(name+": "+err.Error(), false)
		return nil
	}
	m.setStatus("", true)
	m.modal = &formModal{pkg: msg.pkg, action: msg.action, title: name, warning: a.Warning, desc: a.Description, fields: fields}
	return nil
}

// formModal edits an action's input.
type formModal struct {
	pkg, action          string
	title, warning, desc string
	fields               []field
	cursor               int // len(fields) is the Run button
	err                  string
}

func (f *formModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(k, keys.Back):
		m.modal = nil
		return nil
	case k.Type == tea.KeyTab || k.Type == tea.KeyDown:
		f.cursor = min(f.cursor+1, len(f.fields))
		return nil
	case k.Type == tea.KeyShiftTab || k.Type == tea.KeyUp:
		f.cursor = max(f.cursor-1, 0)
		return nil
	case k.Type == tea.KeyEnter:
		if f.cursor < len(f.fields) {
			f.cursor++
			return nil
		}
		input, err := formValues(f.fields)
		if err != nil {
			f.err = err.Error()
			return nil
		}
		m.modal = nil
		m.setStatus("running "+f.title+"…", true)
		return actionRunCmd(m.box, f.pkg, f.action, input)
	}
	if f.cursor >= len(f.fields) {
		return nil
	}
	fd := &f.fields[f.cursor]
	switch fd.kind {
	case fieldToggle:
		if k.Type == tea.KeySpace || k.Type == tea.KeyLeft || k.Type == tea.KeyRight {
			fd.on = !fd.on
		}
	case fieldChoice:
		if n := len(fd.choices); n > 0 {
			switch k.Type {
			case tea.KeyLeft:
				fd.pick = (fd.pick + n - 1) % n
			case tea.KeyRight, tea.KeySpace:
				fd.pick = (fd.pick + 1) % n
			}
		}
	default:
		fd.input.handle(k)
	}
	f.err = ""
	return nil
}

func (*formModal) footer() []key.Binding {
	return shortHelp(bind(nil, "enter", "next / run"), bind(nil, "esc", "cancel"), keys.NextField, keys.PrevField, keys.Toggle, keys.Choose)
}

func (f *formModal) view(m *Model, w, h int) []string {
	inner := min(w-6, 76)
	var lines []string
	if f.warning != "" {
		lines = append(lines, stWarn.Render("Warning: "+f.warning), "")
	}
	const labelW = 20
	valW := max(inner-labelW-1, 10)
	for i, fd := range f.fields {
		focused := i == f.cursor
		label := fit(fd.name, labelW)
		if fd.required {
			label = fit(fd.name+" *", labelW)
		}
		if focused {
			label = stSelected.Render(label)
		}
		var val string
		switch fd.kind {
		case fieldToggle:
			val = "[ ]"
			if fd.on {
				val = "[x]"
			}
		case fieldChoice:
			if len(fd.choices) > 0 {
				val = "‹ " + fd.choices[fd.pick].label + " ›"
			}
		case fieldJSON:
			val = fd.input.view(valW-7, focused) + stDim.Render(" (JSON)")
		default:
			val = fd.input.view(valW, focused)
		}
		lines = append(lines, label+" "+val)
		if focused && fd.desc != "" {
			lines = append(lines, stDim.Render(strings.Repeat(" ", labelW+1)+cut(fd.desc, valW)))
		}
	}
	run := "[ Run ]"
	if f.cursor == len(f.fields) {
		run = stSelected.Render("> Run <")
	}
	lines = append(lines, "", run)
	if f.err != "" {
		lines = append(lines, "", stBad.Render(f.err))
	}
	return boxed(f.title, lines, w, h)
}

// resultRow is one value of an action's result.
type resultRow struct {
	name, value string
	copyable    bool
}

// resultModal shows what an action returned, with its value copyable when
// the action says so.
type resultModal struct {
	title, message string
	failed         bool
	rows           []resultRow
	cursor         int
}

func (m *Model) showResult(msg actionRunMsg) {
	a := m.manifest(msg.pkg).Actions[msg.action]
	name := cmpOr(a.Name, msg.action)
	m.setStatus("", true)
	if msg.err != nil {
		m.modal = &resultModal{title: name + " failed", message: msg.err.Error(), failed: true}
		return
	}
	r := &resultModal{title: name, message: cmpOr(msg.result.Message, "Done.")}
	if v := msg.result.Value; v != nil {
		r.rows = append(r.rows, resultRow{name: "Value", value: *v, copyable: msg.result.Copyable})
	}
	m.modal = r
}

func (r *resultModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(k, keys.Back, keys.Enter, keys.Quit):
		m.modal = nil
	case key.Matches(k, keys.Up):
		r.cursor = max(r.cursor-1, 0)
	case key.Matches(k, keys.Down):
		r.cursor = min(r.cursor+1, max(len(r.rows)-1, 0))
	case key.Matches(k, keys.Copy):
		if r.cursor < len(r.rows) {
			row := r.rows[r.cursor]
			if !row.copyable {
				m.setStatus(row.name+" is not marked copyable; select it with the mouse", false)
				return nil
			}
			return copyCmd(m.copy, row.value)
		}
	}
	return nil
}

func (r *resultModal) footer() []key.Binding {
	if len(r.rows) == 0 {
		return shortHelp(bind(nil, "esc/enter", "close"))
	}
	return shortHelp(keys.Up, keys.Down, keys.Copy, bind(nil, "esc/enter", "close"))
}

func (r *resultModal) view(m *Model, w, h int) []string {
	msg := r.message
	if r.failed {
		msg = stBad.Render(msg)
	}
	lines := []string{msg}
	if len(r.rows) > 0 {
		lines = append(lines, "")
	}
	for i, row := range r.rows {
		v := row.value
		marker := "  "
		if i == r.cursor {
			marker = "> "
		}
		tag := ""
		if row.copyable {
			tag = stDim.Render("  (c copies)")
		}
		// The value stands alone on its line so a mouse selection takes
		// exactly it.
		lines = append(lines, marker+stBold.Render(row.name)+tag, "    "+v)
	}
	return boxed(r.title, lines, w, h)
}
