package ui

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// runAction starts an action of a package: a form first when it takes
// input, a confirmation first when it warns.
func (m *Model) runAction(pkg, aid string) tea.Cmd {
	a := m.manifest(pkg).Actions[aid]
	e := m.state.Doc.PackageData[pkg]
	if ok, why := actionAllowed(a, deriveStatus(&e).Primary); !ok {
		m.setStatus(a.Name+": "+why, false)
		return nil
	}
	if a.HasInput() {
		m.setStatus("loading the form of "+a.Name+"…", true)
		return actionInputCmd(m.box, pkg, aid)
	}
	run := func(m *Model) tea.Cmd {
		m.setStatus("running "+a.Name+"…", true)
		return actionRunCmd(m.box, pkg, aid, "", nil)
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
	spec := msg.input.Spec
	if len(bytes.TrimSpace(spec)) == 0 || string(bytes.TrimSpace(spec)) == "null" {
		spec = a.InputSpec
	}
	fields, err := parseSpec(spec, msg.input.Value)
	if err != nil {
		m.setStatus(name+": "+err.Error(), false)
		return nil
	}
	m.setStatus("", true)
	m.modal = &formModal{pkg: msg.pkg, action: msg.action, eventID: msg.input.EventID, title: name, warning: a.Warning, desc: a.Description, fields: fields}
	return nil
}

// formModal edits an action's input.
type formModal struct {
	pkg, action, eventID string
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
		return actionRunCmd(m.box, f.pkg, f.action, f.eventID, input)
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
	name, desc, value string
	copyable, masked  bool
}

// resultModal shows what an action returned, with copyable values.
type resultModal struct {
	title, message string
	failed         bool
	rows           []resultRow
	cursor         int
	reveal         bool
}

// actionResult is either StartOS result version: 0 {message, value?,
// copyable, qr} or 1 {title, message?, result?: single | group}.
type actionResult struct {
	Version  json.RawMessage `json:"version"`
	Title    string          `json:"title"`
	Message  string          `json:"message"`
	Value    *string         `json:"value"`
	Copyable bool            `json:"copyable"`
	Result   *resultNode     `json:"result"`
}

type resultNode struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Value       json.RawMessage `json:"value"`
	Copyable    bool            `json:"copyable"`
	Masked      bool            `json:"masked"`
}

func (n *resultNode) flatten(prefix string, out *[]resultRow) {
	name := n.Name
	if prefix != "" {
		name = prefix + " / " + name
	}
	if n.Type == "group" {
		var members []resultNode
		json.Unmarshal(n.Value, &members)
		for i := range members {
			members[i].flatten(name, out)
		}
		return
	}
	var s string
	if json.Unmarshal(n.Value, &s) != nil {
		s = string(compactJSON(n.Value))
	}
	*out = append(*out, resultRow{name: name, desc: n.Description, value: s, copyable: n.Copyable, masked: n.Masked})
}

func (m *Model) showResult(msg actionRunMsg) {
	a := m.manifest(msg.pkg).Actions[msg.action]
	name := cmpOr(a.Name, msg.action)
	m.setStatus("", true)
	if msg.err != nil {
		m.modal = &resultModal{title: name + " failed", message: msg.err.Error(), failed: true}
		return
	}
	r := &resultModal{title: name, message: "Done."}
	var res actionResult
	raw := bytes.TrimSpace(msg.result)
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '"':
		json.Unmarshal(raw, &r.message)
	case json.Unmarshal(raw, &res) == nil:
		r.title = cmpOr(res.Title, name)
		r.message = cmpOr(res.Message, r.message)
		if res.Value != nil {
			r.rows = append(r.rows, resultRow{name: "Value", value: *res.Value, copyable: res.Copyable})
		}
		if res.Result != nil {
			res.Result.flatten("", &r.rows)
		}
	default:
		r.message = string(compactJSON(raw))
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
	case key.Matches(k, keys.Reveal):
		r.reveal = !r.reveal
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
	return shortHelp(keys.Up, keys.Down, keys.Copy, keys.Reveal, bind(nil, "esc/enter", "close"))
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
		if row.masked && !r.reveal {
			v = strings.Repeat("•", min(len([]rune(v)), 12))
		}
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
		if row.desc != "" {
			lines = append(lines, "    "+stDim.Render(row.desc))
		}
	}
	return boxed(r.title, lines, w, h)
}
