package ui

// The config form (generated from a package's StartOS 0.3 config spec,
// every value type: text, masked text, numbers, toggles, choices, objects,
// unions and lists of each) and the Properties view. The form validates
// with the library's own rules as you type and names the bad value; saving
// calls package.config.set.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/startos-go/startos/startos/config"
	"github.com/startos-go/startos/startos/model"
)

type (
	configGetMsg struct {
		pkg string
		res config.Res
		err error
	}
	configSetMsg struct {
		pkg       string
		breakages map[string]model.Breakage
		err       error
	}
	propertiesMsg struct {
		pkg   string
		props *config.Properties
		err   error
	}
)

var (
	keyConfig     = bind([]string{"e"}, "e", "config")
	keyProperties = bind([]string{"p"}, "p", "props")
	keyReveal     = bind([]string{"ctrl+r"}, "^r", "reveal masked")
	keySave       = bind([]string{"ctrl+s"}, "^s", "save")
	keyAddItem    = bind([]string{"ctrl+n"}, "^n", "add list item")
	keyDelItem    = bind([]string{"ctrl+d"}, "^d", "delete list item")
)

func configGetCmd(b Box, pkg string) tea.Cmd {
	return func() tea.Msg {
		var res config.Res
		err := call(b, callTimeout*4, "package.config.get", model.PackageIDParams{ID: pkg}, &res)
		return configGetMsg{pkg: pkg, res: res, err: err}
	}
}

func configSetCmd(b Box, pkg string, cfg config.Config) tea.Cmd {
	return func() tea.Msg {
		var br map[string]model.Breakage
		err := call(b, callTimeout*4, "package.config.set", model.ConfigSetParams{ID: pkg, Config: cfg}, &br)
		return configSetMsg{pkg: pkg, breakages: br, err: err}
	}
}

func propertiesCmd(b Box, pkg string) tea.Cmd {
	return func() tea.Msg {
		var p *config.Properties
		err := call(b, callTimeout*4, "package.properties", model.PackageIDParams{ID: pkg}, &p)
		return propertiesMsg{pkg: pkg, props: p, err: err}
	}
}

// configKey handles the config and properties keys on a service's page.
func (m *Model) configKey(k tea.KeyMsg, id string) (tea.Cmd, bool) {
	switch {
	case key.Matches(k, keyConfig):
		m.setStatus("loading the config of "+m.title(id)+"…", true)
		return configGetCmd(m.box, id), true
	case key.Matches(k, keyProperties):
		m.setStatus("loading the properties of "+m.title(id)+"…", true)
		return propertiesCmd(m.box, id), true
	}
	return nil, false
}

// configMessage handles the answers of the config calls.
func (m *Model) configMessage(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case configGetMsg:
		if msg.err != nil {
			m.setStatus("config of "+m.title(msg.pkg)+": "+msg.err.Error(), false)
			return nil, true
		}
		m.setStatus("", true)
		f := &configModal{pkg: msg.pkg, title: "Config of " + m.title(msg.pkg), spec: msg.res.Spec, value: msg.res.Config}
		if f.value == nil {
			f.value = config.Config{}
		}
		f.rebuild()
		m.modal = f
		return nil, true
	case configSetMsg:
		f, _ := m.modal.(*configModal)
		if msg.err != nil {
			if f != nil && f.pkg == msg.pkg {
				f.saving, f.serverErr = false, msg.err.Error()
			} else {
				m.setStatus("saving the config: "+msg.err.Error(), false)
			}
			return nil, true
		}
		if f != nil && f.pkg == msg.pkg {
			m.modal = nil
		}
		text := "config of " + m.title(msg.pkg) + " saved"
		if len(msg.breakages) > 0 {
			text += "; it breaks " + strings.Join(sortedStrings(msg.breakages), ", ")
		}
		m.setStatus(text, len(msg.breakages) == 0)
		return nil, true
	case propertiesMsg:
		if msg.err != nil {
			m.setStatus("properties of "+m.title(msg.pkg)+": "+msg.err.Error(), false)
			return nil, true
		}
		m.setStatus("", true)
		pm := &propertiesModal{title: "Properties of " + m.title(msg.pkg)}
		if msg.props != nil {
			pm.rows = propertyRows(msg.props.Data, 0)
		}
		m.modal = pm
		return nil, true
	}
	return nil, false
}

func sortedStrings[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// rowKind is what a row of the config form edits.
type rowKind int

const (
	rowText    rowKind = iota // string or number, typed
	rowToggle                 // boolean
	rowChoice                 // enum
	rowVariant                // a union's tag
	rowGroup                  // an object's or list's heading
	rowPointer                // filled in by the box
)

// cfgRow is one line of the form: where its value lives in the config
// (loc: keys and indices) and the path the library's errors use.
type cfgRow struct {
	kind  rowKind
	loc   []any
	path  string
	label string
	depth int
	spec  *config.ValueSpec
	list  []any // for items: the location of the list they belong to
	item  bool
}

type configModal struct {
	pkg, title string
	spec       *config.Spec
	value      config.Config
	rows       []cfgRow
	cursor     int
	input      lineInput // the focused text row
	inputAt    string    // the path input holds
	reveal     bool
	err        error  // the library's validation of the value now
	serverErr  string // what the daemon said on save
	saving     bool
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// rebuild lays the rows out from the spec and the value, and validates.
func (f *configModal) rebuild() {
	f.rows = f.rows[:0]
	f.addSpec(f.spec, nil, "", 0)
	f.cursor = min(max(f.cursor, 0), max(len(f.rows)-1, 0))
	f.err = f.spec.Validate(f.value)
	f.syncInput()
}

func (f *configModal) addSpec(s *config.Spec, loc []any, path string, depth int) {
	if s == nil {
		return
	}
	for _, k := range s.Keys {
		vs := s.Fields[k]
		f.addValue(vs, vs.Name, appendLoc(loc, k), joinPath(path, k), depth, nil)
	}
}

func appendLoc(loc []any, k any) []any {
	return append(slices.Clone(loc), k)
}

func (f *configModal) addValue(vs *config.ValueSpec, label string, loc []any, path string, depth int, list []any) {
	row := cfgRow{loc: loc, path: path, label: label, depth: depth, spec: vs, list: list, item: list != nil}
	switch vs.Type {
	case config.TypeString, config.TypeNumber:
		row.kind = rowText
	case config.TypeBoolean:
		row.kind = rowToggle
	case config.TypeEnum:
		row.kind = rowChoice
	case config.TypePointer:
		row.kind = rowPointer
	case config.TypeObject:
		row.kind = rowGroup
		if _, ok := getAt(f.value, loc).(map[string]any); !ok {
			d, _ := vs.Spec.Defaults()
			setAt(f.value, loc, map[string]any(d))
		}
		f.rows = append(f.rows, row)
		f.addSpec(vs.Spec, loc, path, depth+1)
		return
	case config.TypeUnion:
		row.kind = rowVariant
		obj, ok := getAt(f.value, loc).(map[string]any)
		if !ok || vs.Variants[fmt.Sprint(obj[vs.Tag.ID])] == nil {
			obj = unionDefault(vs, fmt.Sprint(vs.Default))
			setAt(f.value, loc, obj)
		}
		f.rows = append(f.rows, row)
		f.addSpec(vs.Variants[fmt.Sprint(obj[vs.Tag.ID])], loc, path, depth+1)
		return
	case config.TypeList:
		row.kind = rowGroup
		items, ok := getAt(f.value, loc).([]any)
		if !ok {
			items = []any{}
			setAt(f.value, loc, items)
		}
		f.rows = append(f.rows, row)
		for i := range items {
			f.addValue(vs.Item, fmt.Sprintf("#%d", i+1), appendLoc(loc, i), fmt.Sprintf("%s[%d]", path, i), depth+1, loc)
		}
		return
	}
	f.rows = append(f.rows, row)
}

func unionDefault(vs *config.ValueSpec, tag string) map[string]any {
	obj := map[string]any{}
	if s := vs.Variants[tag]; s != nil {
		d, _ := s.Defaults()
		obj = d
	}
	obj[vs.Tag.ID] = tag
	return obj
}

// getAt and setAt walk the value by keys and indices.
func getAt(v any, loc []any) any {
	for _, k := range loc {
		switch c := v.(type) {
		case map[string]any:
			v = c[k.(string)]
		case []any:
			i := k.(int)
			if i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func setAt(root config.Config, loc []any, val any) {
	if len(loc) == 0 {
		return
	}
	parent := getAt(root, loc[:len(loc)-1])
	if len(loc) == 1 {
		parent = root
	}
	switch c := parent.(type) {
	case map[string]any:
		c[loc[len(loc)-1].(string)] = val
	case []any:
		if i := loc[len(loc)-1].(int); i >= 0 && i < len(c) {
			c[i] = val
		}
	}
}

// syncInput loads the focused text row's value into the line input.
func (f *configModal) syncInput() {
	if f.cursor >= len(f.rows) {
		return
	}
	r := f.rows[f.cursor]
	if r.kind != rowText || f.inputAt == r.path {
		return
	}
	f.inputAt = r.path
	f.input = newInput(valueText(getAt(f.value, r.loc)))
	f.input.mask = r.spec.Masked && !f.reveal
}

func valueText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// commitInput writes the typed text into the value: numbers as numbers
// (text that is not one stays text, so validation names it), empty as null.
func (f *configModal) commitInput() {
	r := f.rows[f.cursor]
	text := f.input.Value()
	var v any = text
	switch {
	case text == "" && (r.spec.Nullable || r.spec.Type == config.TypeNumber):
		v = nil
	case r.spec.Type == config.TypeNumber:
		if n, err := strconv.ParseFloat(strings.TrimSpace(text), 64); err == nil {
			v = n
		}
	}
	setAt(f.value, r.loc, v)
	f.err = f.spec.Validate(f.value)
	f.serverErr = ""
}

func (f *configModal) move(d int) {
	f.cursor = min(max(f.cursor+d, 0), len(f.rows)) // len(rows) is Save
	f.inputAt = ""
	f.syncInput()
}

func (f *configModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	if f.saving {
		return nil
	}
	switch {
	case k.Type == tea.KeyEsc:
		m.modal = nil
		return nil
	case k.Type == tea.KeyTab || k.Type == tea.KeyDown:
		f.move(1)
		return nil
	case k.Type == tea.KeyShiftTab || k.Type == tea.KeyUp:
		f.move(-1)
		return nil
	case key.Matches(k, keyReveal):
		f.reveal = !f.reveal
		f.input.mask = f.cursor < len(f.rows) && f.rows[f.cursor].spec.Masked && !f.reveal
		return nil
	case key.Matches(k, keySave) || (k.Type == tea.KeyEnter && f.cursor == len(f.rows)):
		if f.err != nil {
			return nil // the error is on screen
		}
		f.saving = true
		return configSetCmd(m.box, f.pkg, f.value)
	case k.Type == tea.KeyEnter:
		f.move(1)
		return nil
	}
	if f.cursor >= len(f.rows) {
		return nil
	}
	r := f.rows[f.cursor]
	switch {
	case key.Matches(k, keyAddItem):
		f.addItem(r)
		return nil
	case key.Matches(k, keyDelItem):
		if r, ok := f.enclosingItem(r); ok {
			items, _ := getAt(f.value, r.list).([]any)
			i := r.loc[len(r.loc)-1].(int)
			setAt(f.value, r.list, slices.Delete(slices.Clone(items), i, i+1))
			f.inputAt = ""
			f.rebuild()
		}
		return nil
	}
	switch r.kind {
	case rowText:
		if f.input.handle(k) {
			f.commitInput()
		}
	case rowToggle:
		if k.Type == tea.KeySpace || k.Type == tea.KeyLeft || k.Type == tea.KeyRight {
			b, _ := getAt(f.value, r.loc).(bool)
			setAt(f.value, r.loc, !b)
			f.rebuild()
		}
	case rowChoice, rowVariant:
		opts := r.spec.Values
		if r.kind == rowVariant {
			opts = r.spec.VariantKeys
		}
		cur := fmt.Sprint(getAt(f.value, r.loc))
		if r.kind == rowVariant {
			obj, _ := getAt(f.value, r.loc).(map[string]any)
			cur = fmt.Sprint(obj[r.spec.Tag.ID])
		}
		i := slices.Index(opts, cur)
		switch k.Type {
		case tea.KeyLeft:
			i = (i + len(opts) - 1) % len(opts)
		case tea.KeyRight, tea.KeySpace:
			i = (i + 1) % len(opts)
		default:
			return nil
		}
		if r.kind == rowVariant {
			setAt(f.value, r.loc, unionDefault(r.spec, opts[i]))
		} else {
			setAt(f.value, r.loc, opts[i])
		}
		f.rebuild()
	}
	return nil
}

// addItem appends a new item to the list the row is (or is in).
func (f *configModal) addItem(r cfgRow) {
	loc, vs := r.loc, r.spec
	if vs.Type != config.TypeList {
		it, ok := f.enclosingItem(r)
		if !ok {
			return
		}
		loc, vs = it.list, f.specAt(it.list)
	}
	if vs == nil || vs.Type != config.TypeList {
		return
	}
	var item any
	switch vs.Subtype {
	case config.TypeString:
		item = ""
	case config.TypeEnum:
		item = vs.Item.Values[0]
	case config.TypeObject:
		d, _ := vs.Item.Spec.Defaults()
		item = map[string]any(d)
	case config.TypeUnion:
		item = unionDefault(vs.Item, fmt.Sprint(vs.Item.Default))
	}
	items, _ := getAt(f.value, loc).([]any)
	setAt(f.value, loc, append(slices.Clone(items), item))
	f.rebuild()
}

// enclosingItem is the innermost list item holding row r (r itself when it
// is one).
func (f *configModal) enclosingItem(r cfgRow) (cfgRow, bool) {
	var best cfgRow
	found := false
	for _, c := range f.rows {
		if c.item && len(c.loc) <= len(r.loc) && slices.Equal(c.loc, r.loc[:len(c.loc)]) && (!found || len(c.loc) > len(best.loc)) {
			best, found = c, true
		}
	}
	return best, found
}

func (f *configModal) specAt(loc []any) *config.ValueSpec {
	for _, r := range f.rows {
		if slices.Equal(r.loc, loc) {
			return r.spec
		}
	}
	return nil
}

func (f *configModal) footer() []key.Binding {
	return shortHelp(keySave, bind(nil, "esc", "cancel"), keys.NextField, keys.Toggle, keys.Choose, keyReveal, keyAddItem, keyDelItem, keys.PrevField)
}

func (f *configModal) view(m *Model, w, h int) []string {
	inner := min(w-6, 76)
	const labelW = 28
	valW := max(inner-labelW-2, 10)
	var verr *config.ValueError
	errPath := ""
	if ve, ok := f.err.(*config.ValueError); ok {
		verr, errPath = ve, ve.Path
	}
	var lines []string
	focusLine := 0
	for i, r := range f.rows {
		focused := i == f.cursor
		mark := " "
		if r.path == errPath {
			mark = stBad.Render("✗")
		}
		label := fit(strings.Repeat("  ", r.depth)+r.label, labelW)
		if focused {
			label = stSelected.Render(label)
			focusLine = len(lines)
		}
		lines = append(lines, mark+label+" "+f.rowValue(r, focused, valW))
		if focused && r.spec.Description != "" && r.kind != rowGroup {
			lines = append(lines, stDim.Render(strings.Repeat(" ", labelW+2)+cut(r.spec.Description, valW)))
		}
	}
	save := "[ Save ]"
	if f.cursor == len(f.rows) {
		save = stSelected.Render("> Save <")
		focusLine = len(lines) + 1
	}
	lines = append(lines, "", save)
	// Keep the focused row in sight; the error stays below.
	room := max(h-8, 5)
	if len(lines) > room {
		off := scrollTo(0, focusLine, room, len(lines))
		lines = lines[off:min(off+room, len(lines))]
	}
	switch {
	case f.saving:
		lines = append(lines, "", stInfo.Render("saving…"))
	case f.serverErr != "":
		lines = append(lines, "", stBad.Render(f.serverErr))
	case verr != nil:
		lines = append(lines, "", stBad.Render("✗ "+verr.Path+": "+verr.Message))
	case f.err != nil:
		lines = append(lines, "", stBad.Render(f.err.Error()))
	default:
		lines = append(lines, "", stOK.Render("✓ valid"))
	}
	return boxed(f.title, lines, w, h)
}

func (f *configModal) rowValue(r cfgRow, focused bool, w int) string {
	v := getAt(f.value, r.loc)
	switch r.kind {
	case rowText:
		if focused {
			return f.input.view(w, true)
		}
		s := valueText(v)
		if v == nil {
			return stDim.Render("(empty)")
		}
		if r.spec.Masked && !f.reveal {
			s = strings.Repeat("•", min(len([]rune(s)), 16))
		}
		if r.spec.Units != "" {
			s += " " + stDim.Render(r.spec.Units)
		}
		return cut(s, w)
	case rowToggle:
		if b, _ := v.(bool); b {
			return "[x]"
		}
		return "[ ]"
	case rowChoice:
		s := fmt.Sprint(v)
		return "‹ " + cmpOr(r.spec.ValueNames[s], s) + " ›"
	case rowVariant:
		obj, _ := v.(map[string]any)
		s := fmt.Sprint(obj[r.spec.Tag.ID])
		return stDim.Render(r.spec.Tag.Name+": ") + "‹ " + cmpOr(r.spec.Tag.VariantNames[s], s) + " ›"
	case rowPointer:
		return stDim.Render("set by the box")
	case rowGroup:
		if r.spec.Type == config.TypeList {
			items, _ := v.([]any)
			return stDim.Render(fmt.Sprintf("list of %s, %d item(s) (^n adds)", r.spec.Subtype, len(items)))
		}
		return ""
	}
	return ""
}

// propRow is one line of the Properties view.
type propRow struct {
	name, desc, value  string
	depth              int
	group              bool
	masked, copy, isQR bool
}

func propertyRows(data map[string]config.PropertyValue, depth int) []propRow {
	var out []propRow
	for _, k := range sortedStrings(data) {
		v := data[k]
		desc := ""
		if v.Description != nil {
			desc = *v.Description
		}
		if v.Type == "object" {
			out = append(out, propRow{name: k, desc: desc, depth: depth, group: true})
			out = append(out, propertyRows(v.Children, depth+1)...)
			continue
		}
		out = append(out, propRow{name: k, desc: desc, value: fmt.Sprint(v.Value), depth: depth, masked: v.Masked, copy: v.Copyable, isQR: v.QR})
	}
	return out
}

// propertiesModal shows a package's properties: masked values hidden until
// revealed, copyable ones copied with c (OSC 52).
type propertiesModal struct {
	title  string
	rows   []propRow
	cursor int
	reveal bool
	qr     []string // the QR code of the selected value, while shown
	qrOf   string
}

// qrLines draws s as a QR code with half blocks, light modules lit (so it
// reads as dark on light on a dark terminal), quiet zone included.
func qrLines(s string) ([]string, error) {
	if len(s) > 1000 {
		return nil, fmt.Errorf("the value is too long for a QR code here")
	}
	q, err := qrcode.New(s, qrcode.Low)
	if err != nil {
		return nil, err
	}
	bm := q.Bitmap() // true: a dark module
	var out []string
	for y := 0; y < len(bm); y += 2 {
		var b strings.Builder
		for x := range bm[y] {
			top := !bm[y][x]
			bottom := y+1 < len(bm) && !bm[y+1][x]
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		out = append(out, b.String())
	}
	return out, nil
}

func (p *propertiesModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	if p.qr != nil {
		p.qr = nil // any key closes the code
		return nil
	}
	switch {
	case k.String() == "q" && p.cursor < len(p.rows):
		r := p.rows[p.cursor]
		if r.group || !r.isQR {
			m.setStatus(r.name+" is not marked for a QR code", false)
			return nil
		}
		lines, err := qrLines(r.value)
		if err != nil {
			m.setStatus("QR code: "+err.Error(), false)
			return nil
		}
		p.qr, p.qrOf = lines, r.name
		return nil
	case key.Matches(k, keys.Back, keys.Enter, keys.Quit):
		m.modal = nil
	case key.Matches(k, keys.Up):
		p.cursor = max(p.cursor-1, 0)
	case key.Matches(k, keys.Down):
		p.cursor = min(p.cursor+1, max(len(p.rows)-1, 0))
	case key.Matches(k, keyReveal), k.String() == "r":
		p.reveal = !p.reveal
	case key.Matches(k, keys.Copy):
		if p.cursor < len(p.rows) {
			r := p.rows[p.cursor]
			if r.group || !r.copy {
				m.setStatus(r.name+" is not marked copyable", false)
				return nil
			}
			return copyCmd(m.copy, r.value)
		}
	}
	return nil
}

func (p *propertiesModal) footer() []key.Binding {
	return shortHelp(keys.Up, keys.Down, keys.Copy, bind(nil, "q", "QR code"), bind(nil, "r", "reveal masked"), bind(nil, "esc", "close"))
}

func (p *propertiesModal) view(m *Model, w, h int) []string {
	if p.qr != nil {
		// Unboxed and uncut: a QR code needs every module and its quiet zone.
		lines := append([]string{stBold.Render(p.qrOf) + stDim.Render("  (any key closes)")}, p.qr...)
		return center(strings.Join(lines, "\n"), w, h)
	}
	if len(p.rows) == 0 {
		return boxed(p.title, []string{stDim.Render("No properties.")}, w, h)
	}
	var lines []string
	for i, r := range p.rows {
		marker := "  "
		if i == p.cursor {
			marker = "> "
		}
		indent := strings.Repeat("  ", r.depth)
		if r.group {
			lines = append(lines, marker+indent+stBold.Render(r.name))
			continue
		}
		var tags []string
		if r.copy {
			tags = append(tags, "c copies")
		}
		if r.masked {
			tags = append(tags, "masked")
		}
		if r.isQR {
			tags = append(tags, "QR")
		}
		head := marker + indent + stBold.Render(r.name)
		if len(tags) > 0 {
			head += stDim.Render("  (" + strings.Join(tags, ", ") + ")")
		}
		val := r.value
		if r.masked && !p.reveal {
			val = strings.Repeat("•", 12)
		}
		lines = append(lines, head, "    "+indent+val)
		if r.desc != "" && i == p.cursor {
			lines = append(lines, "    "+indent+stDim.Render(r.desc))
		}
	}
	return boxed(p.title, lines, w, h)
}
