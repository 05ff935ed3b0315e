package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/startos-go/startos/startos/model"
)

// marketView is the Marketplace tab: what the configured registries offer
// (package.search), by category and search words, with details and release
// notes, install, and update-all. The catalogue is not in the state
// document, so it is fetched when the tab opens and after each search.
type marketView struct {
	items     []model.MarketPackage
	cats      []string
	cat       int // 0: every category; i: cats[i-1]
	query     lineInput
	searching bool
	selected  string // id under the cursor
	offset    int
	details   bool
	loaded    bool
	loading   bool
	err       error
}

type (
	marketMsg struct {
		items []model.MarketPackage
		cats  []string
		err   error
	}
	marketDoneMsg struct {
		what string
		err  error
	}
)

var marketKeys = struct{ UpdateAll, Refresh, Category key.Binding }{
	UpdateAll: bind([]string{"U"}, "U", "update all"),
	Refresh:   bind([]string{"R"}, "R", "refresh registries"),
	Category:  bind([]string{"left", "right"}, "←/→", "category"),
}

func (v *marketView) category() string {
	if v.cat == 0 || v.cat > len(v.cats) {
		return ""
	}
	return v.cats[v.cat-1]
}

func (v *marketView) index() int {
	for i, it := range v.items {
		if it.ID == v.selected {
			return i
		}
	}
	return -1
}

func (v *marketView) current() (model.MarketPackage, bool) {
	if i := v.index(); i >= 0 {
		return v.items[i], true
	}
	return model.MarketPackage{}, false
}

func marketCmd(b Box, query, category string) tea.Cmd {
	return func() tea.Msg {
		var msg marketMsg
		if msg.err = call(b, 30*time.Second, "marketplace.categories", model.Empty{}, &msg.cats); msg.err != nil {
			return msg
		}
		msg.err = call(b, 30*time.Second, "package.search", model.PackageSearchParams{Query: query, Category: category}, &msg.items)
		return msg
	}
}

func (m *Model) fetchMarket() tea.Cmd {
	if m.box == nil {
		return nil
	}
	m.market.loading = true
	return marketCmd(m.box, m.market.query.Value(), m.market.category())
}

func (m *Model) marketLoaded(msg marketMsg) {
	v := &m.market
	v.loading, v.loaded, v.err = false, true, msg.err
	if msg.err != nil {
		return
	}
	v.items, v.cats = msg.items, msg.cats
	if v.index() < 0 {
		v.selected = ""
		if len(v.items) > 0 {
			v.selected = v.items[0].ID
		}
	}
}

// installFromMarketCmd installs id from the registries; the call answers
// when the install is over (its phases show in Services meanwhile).
func installFromMarketCmd(b Box, id string) tea.Cmd {
	return func() tea.Msg {
		err := call(b, time.Hour, "package.install", model.InstallParams{ID: id}, nil)
		return marketDoneMsg{what: "install " + id, err: err}
	}
}

// updateAllCmd updates every package with an update on offer, one by one.
func updateAllCmd(b Box) tea.Cmd {
	return func() tea.Msg {
		var ups []model.PackageUpdateInfo
		if err := call(b, 30*time.Second, "package.updates", model.Empty{}, &ups); err != nil {
			return marketDoneMsg{what: "list updates", err: err}
		}
		if len(ups) == 0 {
			return marketDoneMsg{what: "update all (nothing to update)"}
		}
		var failed []string
		for _, u := range ups {
			if err := call(b, time.Hour, "package.update", model.PackageUpdateParams{ID: u.ID}, nil); err != nil {
				failed = append(failed, u.ID+": "+err.Error())
			}
		}
		if len(failed) > 0 {
			return marketDoneMsg{what: fmt.Sprintf("update %d packages", len(ups)), err: fmt.Errorf("%s", strings.Join(failed, "; "))}
		}
		return marketDoneMsg{what: fmt.Sprintf("update %d packages", len(ups))}
	}
}

func refreshRegistriesCmd(b Box) tea.Cmd {
	return func() tea.Msg {
		err := call(b, 5*time.Minute, "registry.refresh", model.RegistryRefreshParams{}, nil)
		return marketDoneMsg{what: "refresh the registries", err: err}
	}
}

func (m *Model) marketDone(msg marketDoneMsg) tea.Cmd {
	m.done(msg.what, msg.err)
	return m.fetchMarket()
}

func (m *Model) typeMarketSearch(k tea.KeyMsg) tea.Cmd {
	v := &m.market
	switch k.Type {
	case tea.KeyEnter:
		v.searching = false
		return m.fetchMarket()
	case tea.KeyEsc:
		v.searching = false
		v.query.Set("")
		return m.fetchMarket()
	}
	v.query.handle(k)
	return nil
}

func (m *Model) marketKey(k tea.KeyMsg) tea.Cmd {
	v := &m.market
	if v.details {
		switch {
		case key.Matches(k, keys.Back), key.Matches(k, keys.Enter):
			v.details = false
		case key.Matches(k, keys.Install):
			if cur, ok := v.current(); ok {
				return m.installFromMarket(cur)
			}
		}
		return nil
	}
	if i, ok := m.listMove(k, max(v.index(), 0), len(v.items)); ok {
		v.selected = v.items[i].ID
		return nil
	}
	switch {
	case key.Matches(k, keys.Filter):
		v.searching = true
	case k.String() == "left":
		v.cat = (v.cat + len(v.cats)) % (len(v.cats) + 1)
		return m.fetchMarket()
	case k.String() == "right":
		v.cat = (v.cat + 1) % (len(v.cats) + 1)
		return m.fetchMarket()
	case key.Matches(k, keys.Enter):
		if _, ok := v.current(); ok {
			v.details = true
		}
	case key.Matches(k, keys.Install):
		if cur, ok := v.current(); ok {
			return m.installFromMarket(cur)
		}
	case key.Matches(k, marketKeys.UpdateAll):
		m.setStatus("Updating every package with an update…", true)
		return updateAllCmd(m.box)
	case key.Matches(k, marketKeys.Refresh):
		m.setStatus("Refreshing the registries…", true)
		return refreshRegistriesCmd(m.box)
	}
	return nil
}

func (m *Model) installFromMarket(p model.MarketPackage) tea.Cmd {
	switch {
	case p.Stale:
		m.setStatus("The index listing "+p.Title+" expired; R refreshes the registries before anything is installed from it", false)
		return nil
	case !p.Runs:
		m.setStatus(p.Title+" "+p.Version+" does not run on this box ("+strings.Join(p.Arch, ", ")+")", false)
		return nil
	case p.Installed != "":
		m.setStatus(p.Title+" is installed ("+p.Installed+"); U updates", false)
		return nil
	}
	m.setStatus("Installing "+p.Title+" "+p.Version+"… (progress in Services)", true)
	return installFromMarketCmd(m.box, p.ID)
}

func (m *Model) viewMarket(w, h int) []string {
	v := &m.market
	cat := "all"
	if c := v.category(); c != "" {
		cat = c
	}
	search := v.query.Value()
	head := " Category: " + stBold.Render(cat) + stDim.Render(" (←/→)") + "   Search: "
	if v.searching {
		head += v.query.view(max(w-ansiWidth(head)-2, 10), true)
	} else if search != "" {
		head += stBold.Render(search)
	} else {
		head += stDim.Render("/ to search")
	}
	lines := []string{fit(head, w), ""}
	switch {
	case v.err != nil:
		return append(lines, " "+stBad.Render("package.search: "+v.err.Error()))
	case !v.loaded:
		return append(lines, " "+stDim.Render("Loading the marketplace…"))
	case len(v.items) == 0:
		return append(lines, " Nothing found. Add a registry with start-cli registry add URL, or clear the search.")
	}
	if v.details {
		if cur, ok := v.current(); ok {
			return append(lines, m.marketDetails(cur, w)...)
		}
	}
	rows := h - len(lines)
	cur := max(v.index(), 0)
	v.offset = scrollTo(v.offset, cur, rows, len(v.items))
	for i := v.offset; i < min(v.offset+rows, len(v.items)); i++ {
		p := v.items[i]
		marker := "  "
		if i == cur {
			marker = "> "
		}
		state := ""
		switch {
		case p.Stale:
			state = stBad.Render("stale index: R refreshes")
		case p.Installed != "" && p.Installed != p.Version:
			state = stWarn.Render("↑ update " + p.Installed + " → " + p.Version)
		case p.Installed != "":
			state = stOK.Render("installed")
		case !p.Runs:
			state = stDim.Render("not for this box")
		}
		row := fmt.Sprintf("%s%-24s %-9s %s", marker, fit(p.Title, 24), p.Version, fit(p.ShortDescription, max(w-64, 10)))
		row = fit(row, max(w-26, 20)) + " " + state
		if i == cur {
			row = stSelected.Render(fit(row, w))
		}
		lines = append(lines, fit(row, w))
	}
	return lines
}

func (m *Model) marketDetails(p model.MarketPackage, w int) []string {
	lines := []string{
		" " + stBold.Render(p.Title) + stDim.Render(" · "+p.ID+" "+p.Version),
		" " + p.ShortDescription,
		"",
		fmt.Sprintf(" Categories: %s   Arch: %s   Size: %s", strings.Join(p.Categories, ", "), strings.Join(p.Arch, ", "), humanBytes(p.Size)),
		" Registry: " + p.Registry,
	}
	if p.Installed != "" {
		lines = append(lines, " Installed: "+p.Installed)
	}
	lines = append(lines, "")
	for _, l := range wrapText(p.LongDescription, w-2) {
		lines = append(lines, " "+l)
	}
	lines = append(lines, "", " "+stBold.Render("Release notes"))
	for _, l := range wrapText(p.ReleaseNotes, w-2) {
		lines = append(lines, " "+l)
	}
	return lines
}

func (m *Model) marketFooter() []key.Binding {
	v := &m.market
	switch {
	case v.searching:
		return shortHelp(bind(nil, "enter", "search"), bind(nil, "esc", "clear"))
	case v.details:
		return shortHelp(bind(nil, "i", "install"), bind(nil, "esc", "back"), keys.Help)
	}
	return shortHelp(keys.Up, keys.Down, bind(nil, "enter", "details"), keys.Filter, marketKeys.Category, bind(nil, "i", "install"), marketKeys.UpdateAll, marketKeys.Refresh)
}
