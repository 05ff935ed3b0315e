package ui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/startos/model"
)

// servicesView is the services tab: the list, or one service's page.
type servicesView struct {
	selected  string // package under the cursor in the list
	offset    int    // first list row shown
	filter    lineInput
	filtering bool   // keys go to the filter
	open      string // the package whose page is shown; "" for the list
	action    int    // cursor among the page's actions

	// The library's view of the open package (package.info): dependencies
	// judged, interfaces with their local addresses. Fetched when the page
	// opens and again after each state revision, one call at a time.
	info      *model.PackageInfo
	infoErr   error
	infoBusy  bool // a package.info call is under way
	infoStale bool // a revision arrived during it: ask again when it ends
}

// openPage shows id's page and asks the library about it.
func (m *Model) openPage(id string) tea.Cmd {
	v := &m.services
	v.open, v.action, v.info, v.infoErr = id, 0, nil, nil
	return m.fetchInfo()
}

// fetchInfo asks for package.info of the open page, or notes that the
// answer under way is stale.
func (m *Model) fetchInfo() tea.Cmd {
	v := &m.services
	if v.open == "" || m.box == nil {
		return nil
	}
	if v.infoBusy {
		v.infoStale = true
		return nil
	}
	v.infoBusy, v.infoStale = true, false
	return packageInfoCmd(m.box, v.open)
}

// gotInfo takes package.info's answer.
func (m *Model) gotInfo(msg packageInfoMsg) tea.Cmd {
	v := &m.services
	v.infoBusy = false
	if msg.id == v.open {
		if msg.err != nil {
			v.infoErr = msg.err
		} else {
			v.info, v.infoErr = &msg.info, nil
		}
	}
	if v.infoStale || (v.open != "" && msg.id != v.open) {
		return m.fetchInfo()
	}
	return nil
}

// visibleIDs is the list after the filter (title or id, any case).
func (m *Model) visibleIDs() []string {
	ids := m.sortedPackageIDs()
	q := strings.ToLower(strings.TrimSpace(m.services.filter.Value()))
	if q == "" {
		return ids
	}
	return slices.DeleteFunc(slices.Clone(ids), func(id string) bool {
		return !strings.Contains(strings.ToLower(m.title(id)), q) && !strings.Contains(id, q)
	})
}

func (v *servicesView) typeFilter(k tea.KeyMsg) {
	switch k.Type {
	case tea.KeyEnter:
		v.filtering = false
	case tea.KeyEsc:
		v.filtering = false
		v.filter.Set("")
	case tea.KeyUp, tea.KeyDown:
		v.filtering = false
	default:
		v.filter.handle(k)
	}
}

// cursor is the index of the selected package among ids (0 when it is
// gone, so the cursor stays on the list).
func (v *servicesView) cursor(ids []string) int {
	return max(slices.Index(ids, v.selected), 0)
}

func (m *Model) moveSelection(k tea.KeyMsg, ids []string) bool {
	i, ok := m.listMove(k, m.services.cursor(ids), len(ids))
	if ok {
		m.services.selected = ids[i]
	}
	return ok
}

// listMove applies a navigation key (up, down, page up/down, top, bottom)
// to cursor i in a list of n rows; ok is false for any other key or an
// empty list. Every list view moves the same way.
func (m *Model) listMove(k tea.KeyMsg, i, n int) (int, bool) {
	if n == 0 {
		return 0, false
	}
	page := max(m.bodyHeight()-2, 1)
	switch {
	case key.Matches(k, keys.Up):
		i--
	case key.Matches(k, keys.Down):
		i++
	case key.Matches(k, keys.PageUp):
		i -= page
	case key.Matches(k, keys.PageDown):
		i += page
	case key.Matches(k, keys.Top):
		i = 0
	case key.Matches(k, keys.Bottom):
		i = n - 1
	default:
		return 0, false
	}
	return min(max(i, 0), n-1), true
}

func (m *Model) servicesKey(k tea.KeyMsg) tea.Cmd {
	v := &m.services
	if v.open != "" {
		return m.pageKey(k)
	}
	ids := m.visibleIDs()
	if m.moveSelection(k, ids) {
		return nil
	}
	var id string
	if len(ids) > 0 {
		id = ids[v.cursor(ids)]
	}
	switch {
	case key.Matches(k, keys.Enter):
		if id != "" {
			return m.openPage(id)
		}
	case key.Matches(k, keys.Filter):
		v.filtering = true
	case key.Matches(k, keys.Back):
		v.filter.Set("")
	case key.Matches(k, keys.Install):
		m.modal = newInstallModal()
	default:
		if id != "" {
			return m.controlKey(k, id)
		}
	}
	return nil
}

// pageKey handles keys on a service's page.
func (m *Model) pageKey(k tea.KeyMsg) tea.Cmd {
	v := &m.services
	actions := m.manifest(v.open).ActionIDs()
	switch {
	case key.Matches(k, keys.Back):
		v.open, v.info, v.infoErr = "", nil, nil
	case key.Matches(k, keys.Up):
		v.action = max(v.action-1, 0)
	case key.Matches(k, keys.Down):
		v.action = min(v.action+1, max(len(actions)-1, 0))
	case key.Matches(k, keys.Enter):
		if len(actions) > 0 {
			return m.runAction(v.open, actions[min(v.action, len(actions)-1)])
		}
	default:
		if cmd, ok := m.configKey(k, v.open); ok {
			return cmd
		}
		return m.controlKey(k, v.open)
	}
	return nil
}

// controlKey starts, stops, restarts, uninstalls or shows the logs of id.
func (m *Model) controlKey(k tea.KeyMsg, id string) tea.Cmd {
	mf := m.manifest(id)
	title := m.title(id)
	switch {
	case key.Matches(k, keys.Start):
		return m.confirmThen(mf.Alerts.Start, "Start "+title+"?", "package.start", id)
	case key.Matches(k, keys.Stop):
		return m.confirmThen(mf.Alerts.Stop, "Stop "+title+"?", "package.stop", id)
	case key.Matches(k, keys.Restart):
		m.setStatus("restarting "+title+"…", true)
		return controlCmd(m.box, "package.restart", id)
	case key.Matches(k, keys.Uninstall):
		body := "Its containers, images and archive are removed."
		if mf.Alerts.Uninstall != "" {
			body = mf.Alerts.Uninstall
		}
		m.modal = &confirmModal{
			title: "Uninstall " + title + "?",
			body:  body,
			options: []confirmOption{
				{key: "y", label: "uninstall and delete its data", run: func(m *Model) tea.Cmd {
					m.setStatus("uninstalling "+title+"…", true)
					return uninstallCmd(m.box, id, false)
				}},
				{key: "k", label: "uninstall, keep its data", run: func(m *Model) tea.Cmd {
					m.setStatus("uninstalling "+title+" (keeping data)…", true)
					return uninstallCmd(m.box, id, true)
				}},
			},
		}
	case key.Matches(k, keys.ServiceLogs):
		m.followLogs(id)
		m.tab = tabLogs
	}
	return nil
}

// confirmThen calls method at once, or after confirming when the package
// has an alert for it.
func (m *Model) confirmThen(alert, title, method, id string) tea.Cmd {
	verb := strings.TrimPrefix(method, "package.")
	run := func(m *Model) tea.Cmd {
		m.setStatus(verb+" "+m.title(id)+"…", true)
		return controlCmd(m.box, method, id)
	}
	if alert == "" {
		return run(m)
	}
	m.modal = &confirmModal{title: title, body: alert, options: []confirmOption{{key: "y", label: verb, run: run}}}
	return nil
}

// columns sizes the list for width w.
func listColumns(w int) (title, version, status int) {
	avail := w - 2
	title = max(avail*30/100, 14)
	version = max(avail*13/100, 9)
	status = max(avail*13/100, 11)
	return
}

func (m *Model) viewServices(w, h int) []string {
	if m.services.open != "" {
		return m.viewPage(w, h)
	}
	if m.state == nil {
		return []string{"", " " + stDim.Render("Waiting for the daemon…")}
	}
	v := &m.services
	ids := m.visibleIDs()
	tw, vw, sw := listColumns(w)
	hw := w - 2 - tw - vw - sw
	lines := []string{stDim.Render("  " + fit("TITLE", tw) + fit("VERSION", vw) + fit("STATUS", sw) + fit("HEALTH", hw))}
	rows := h - 1
	if v.filtering || v.filter.Value() != "" {
		rows--
	}
	switch {
	case len(m.state.Doc.PackageData) == 0:
		lines = append(lines, "", " No services installed. Press "+stBold.Render("i")+" to install one from a .s9pk file.")
	case len(ids) == 0:
		lines = append(lines, "", " Nothing matches the filter. "+stDim.Render("esc clears it."))
	default:
		cur := v.cursor(ids)
		v.offset = scrollTo(v.offset, cur, rows, len(ids))
		for i := v.offset; i < min(v.offset+rows, len(ids)); i++ {
			lines = append(lines, m.serviceRow(ids[i], i == cur, tw, vw, sw, hw))
		}
	}
	if v.filtering || v.filter.Value() != "" {
		lines = block(lines, w, h-1)
		lines = append(lines, " / "+v.filter.view(w-4, v.filtering))
	}
	return lines
}

// scrollTo returns the first row to show so row cur is within rows.
func scrollTo(offset, cur, rows, n int) int {
	if cur < offset {
		offset = cur
	}
	if cur >= offset+rows {
		offset = cur - rows + 1
	}
	return max(min(offset, n-rows), 0)
}

func (m *Model) serviceRow(id string, selected bool, tw, vw, sw, hw int) string {
	e := m.state.Doc.PackageData[id]
	st := deriveStatus(&e)
	mf := m.manifest(id)
	var health string
	if info := e.StateInfo.InstallingInfo; info != nil {
		health = progressLine(info.Progress, min(10, hw/3), hw)
	} else {
		health = healthSummary(&e, st)
	}
	marker := "  "
	title := fit(m.title(id), tw)
	if selected {
		marker = "> "
		title = stSelected.Render(title)
	}
	version := mf.Version
	if u := e.UpdateAvailable; u != nil {
		version = stWarn.Render(mf.Version + " ↑") // a registry offers u.Version
	}
	return marker + title + fit(version, vw) + fit(statusStyle(st.Primary).Render(st.Primary), sw) + fit(health, hw)
}

// progressLine is one line for a phased job: a bar of the overall progress
// and the phase under way.
func progressLine(fp model.FullProgress, barW, w int) string {
	done, total, text := progressText(fp.Overall)
	s := stInfo.Render(bar(done, total, barW)) + " " + text
	if ph := currentPhase(fp); ph != "" {
		s += " " + ph
	}
	return cut(s, w)
}

// viewPage is one service: status, health checks, dependencies,
// interfaces and actions.
func (m *Model) viewPage(w, h int) []string {
	id := m.services.open
	e, ok := m.state.Doc.PackageData[id]
	if !ok {
		return []string{"", " " + id + " is no longer installed. " + stDim.Render("esc goes back.")}
	}
	mf := m.manifest(id)
	st := deriveStatus(&e)
	lines := []string{
		" " + stBold.Render(m.title(id)) + " " + mf.Version + stDim.Render(" ("+id+")"),
	}
	status := " Status " + statusStyle(st.Primary).Render(st.Primary)
	if st.Health != "" {
		status += stDim.Render(" · health ") + healthSummary(&e, st)
	}
	if e.StatusInfo.Started != nil {
		status += stDim.Render(" · started " + ago(m.now(), *e.StatusInfo.Started))
	}
	lines = append(lines, status)
	if e.StatusInfo.Error != nil { // in full: the cause is usually at the end
		for _, row := range wrapText("Error: "+e.StatusInfo.Error.Details, max(w-2, 20)) {
			lines = append(lines, " "+stBad.Render(row))
		}
	}
	if mf.Description.Short != "" {
		lines = append(lines, " "+stDim.Render(mf.Description.Short))
	}
	if info := e.StateInfo.InstallingInfo; info != nil {
		lines = append(lines, "", stHeader.Render(" "+strings.ToUpper(string(e.StateInfo.State)[:1])+string(e.StateInfo.State)[1:]))
		lines = append(lines, phaseLines(info.Progress, w)...)
	}

	lines = append(lines, "", stHeader.Render(" Health checks"))
	switch {
	case len(e.StatusInfo.Health) > 0:
		for _, hid := range sortedHealthIDs(e.StatusInfo.Health) {
			r := e.StatusInfo.Health[hid]
			msg := r.Message
			if msg == "" {
				msg = r.Result
			}
			lines = append(lines, "   "+healthMark(r.Result)+" "+fit(healthName(hid, r), 22)+" "+msg)
		}
	case len(mf.HealthChecks) > 0:
		lines = append(lines, "   "+stDim.Render(fmt.Sprintf("%d declared; results appear while it runs", len(mf.HealthChecks))))
	default:
		lines = append(lines, "   "+stDim.Render("none"))
	}

	lines = append(lines, m.infoLines(mf)...)

	actions := mf.ActionIDs()
	lines = append(lines, "", stHeader.Render(" Actions"))
	actionStart := len(lines)
	if len(actions) == 0 {
		lines = append(lines, "   "+stDim.Render("none"))
	}
	for i, aid := range actions {
		a := mf.Actions[aid]
		name := fit(a.Name, 24)
		marker := "   "
		if i == m.services.action {
			marker = " > "
			name = stSelected.Render(name)
		}
		desc := a.Description
		if note := actionNote(a); note != "" {
			desc = "(" + note + ") " + desc
		}
		lines = append(lines, marker+name+" "+stDim.Render(desc))
	}
	// Keep the selected action in sight on a short screen.
	if len(lines) > h {
		sel := actionStart + min(m.services.action, max(len(actions)-1, 0))
		off := scrollTo(0, sel, h, len(lines))
		lines = lines[off:]
	}
	return lines
}

// infoLines are the page's dependencies and interfaces as the library
// reports them (package.info): it judges each dependency and knows where
// each interface answers; the console only shows it.
func (m *Model) infoLines(mf *live.Manifest) []string {
	v := &m.services
	info := v.info
	if info == nil || info.ID != v.open {
		switch {
		case v.infoErr != nil:
			return []string{"", " " + stBad.Render("package.info: "+v.infoErr.Error())}
		case len(mf.Dependencies) > 0 || len(mf.Interfaces) > 0:
			return []string{"", " " + stDim.Render("Asking the daemon about dependencies and interfaces…")}
		}
		return nil
	}
	var lines []string
	if v.infoErr != nil {
		lines = append(lines, "", " "+stBad.Render("package.info: "+v.infoErr.Error()))
	}
	if len(info.Dependencies) > 0 {
		lines = append(lines, "", stHeader.Render(" Dependencies"))
		deps := make([]string, 0, len(info.Dependencies))
		for d := range info.Dependencies {
			deps = append(deps, d)
		}
		slices.Sort(deps)
		for _, d := range deps {
			lines = append(lines, "   "+dependencyLine(m.title(d)+" "+mf.Dependencies[d].Version, info.Dependencies[d]))
		}
	}
	if len(info.Interfaces) > 0 {
		lines = append(lines, "", stHeader.Render(" Interfaces"))
		secure := false
		for _, in := range info.Interfaces {
			lines = append(lines, "   "+interfaceLine(in))
			for _, a := range in.Addresses {
				secure = secure || strings.HasPrefix(a, "https://")
			}
		}
		if secure {
			lines = append(lines, "   "+stDim.Render("https is signed by this box's CA: trust it once per device (start-cli server ca)"))
		}
	}
	return lines
}

// dependencyLine is one dependency: a mark, its name and what the library
// says of it.
func dependencyLine(name string, d model.DependencyStatus) string {
	mark, text := stOK.Render("✓"), stDim.Render("satisfied")
	if d.Kind != model.DependencySatisfied {
		text = cmpOr(d.Message, d.Kind)
		if d.Required {
			mark, text = stBad.Render("✗"), stBad.Render(text)
		} else {
			mark, text = stDim.Render("-"), stDim.Render("optional: "+text)
		}
	}
	return mark + " " + fit(strings.TrimSpace(name), 28) + " " + text
}

// interfaceLine is an interface and where it answers on this box.
func interfaceLine(i model.InterfaceAddress) string {
	s := fit(cmpOr(i.Name, i.ID), 22) + " "
	if len(i.Addresses) == 0 {
		s += stDim.Render("no local address")
	} else {
		s += strings.Join(i.Addresses, ", ")
	}
	if i.UI {
		s += stDim.Render(" · ui")
	}
	return s
}

// phaseLines is a phased job, one bar per phase.
func phaseLines(fp model.FullProgress, w int) []string {
	barW := min(30, max(w-50, 10))
	done, total, text := progressText(fp.Overall)
	lines := []string{"   " + fit("Overall", 20) + " " + stInfo.Render(bar(done, total, barW)) + " " + text}
	for _, ph := range fp.Phases {
		done, total, text := progressText(ph.Progress)
		lines = append(lines, "   "+fit(ph.Name, 20)+" "+stInfo.Render(bar(done, total, barW))+" "+text)
	}
	return lines
}
