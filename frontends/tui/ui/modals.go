package ui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// boxed draws a titled, bordered panel of the given lines, centred in w×h.
func boxed(title string, lines []string, w, h int) []string {
	inner := min(w-6, 76)
	body := make([]string, 0, len(lines)+2)
	body = append(body, stBold.Render(cut(title, inner)), "")
	for _, l := range lines {
		body = append(body, splitLines(wrap(l, inner))...)
	}
	if room := h - 2; len(body) > room && room > 0 {
		body = body[:room]
	}
	return center(stBorder.Render(strings.Join(body, "\n")), w, h)
}

// wrap breaks s into lines of at most w cells at spaces.
func wrap(s string, w int) string {
	if w <= 0 || lipgloss.Width(s) <= w {
		return s
	}
	return lipgloss.NewStyle().Width(w).Render(s)
}

// helpModal lists every key.
type helpModal struct{}

func (*helpModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	if key.Matches(k, keys.Back, keys.Help, keys.Quit, keys.Enter) {
		m.modal = nil
	}
	return nil
}

func (*helpModal) footer() []key.Binding { return shortHelp(keys.Back) }

func (*helpModal) view(m *Model, w, h int) []string {
	ncols := min(max((w-2)/26, 1), 4)
	colW := (w - 2) / ncols
	// First fit into columns of about equal height: each group whole, in
	// the first column with room.
	total, biggest := 0, 0
	for _, g := range helpGroups() {
		total += len(g.keys) + 2
		biggest = max(biggest, len(g.keys)+1)
	}
	rows := min(max((total+ncols-1)/ncols+3, biggest), h-1)
	cols := make([][]string, ncols)
	for _, g := range helpGroups() {
		entry := []string{stHeader.Render(g.title)}
		for _, b := range g.keys {
			hk := b.Help()
			entry = append(entry, stBold.Render(fit(hk.Key, 10))+" "+hk.Desc)
		}
		best := 0
		for i := range cols {
			if len(cols[i])+1+len(entry) <= rows || len(cols[i]) == 0 {
				best = i
				break
			}
			if len(cols[i]) < len(cols[best]) {
				best = i
			}
		}
		if len(cols[best]) > 0 {
			cols[best] = append(cols[best], "")
		}
		cols[best] = append(cols[best], entry...)
	}
	lines := []string{" " + stBold.Render("Keys") + stDim.Render(" · esc closes")}
	for row := 0; ; row++ {
		var b strings.Builder
		filled := false
		for _, c := range cols {
			cell := ""
			if row < len(c) {
				cell, filled = c[row], true
			}
			b.WriteString(fit(" "+cell, colW))
		}
		if !filled {
			break
		}
		lines = append(lines, b.String())
	}
	return lines
}

// confirmOption is one answer of a confirmation.
type confirmOption struct {
	key, label string
	run        func(m *Model) tea.Cmd
}

// confirmModal asks before something that cannot be undone.
type confirmModal struct {
	title, body string
	options     []confirmOption
}

func (c *confirmModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	for _, o := range c.options {
		if k.String() == o.key {
			m.modal = nil
			return o.run(m)
		}
	}
	if key.Matches(k, keys.Back) || k.String() == "n" || k.String() == "q" {
		m.modal = nil
	}
	return nil
}

func (c *confirmModal) footer() []key.Binding {
	bs := make([]key.Binding, 0, len(c.options)+1)
	for _, o := range c.options {
		bs = append(bs, bind(nil, o.key, o.label))
	}
	return shortHelp(append(bs, bind(nil, "esc/n", "cancel"))...)
}

func (c *confirmModal) view(m *Model, w, h int) []string {
	lines := []string{c.body, ""}
	for _, o := range c.options {
		lines = append(lines, stBold.Render(o.key)+"  "+o.label)
	}
	lines = append(lines, stBold.Render("n")+"  cancel")
	return boxed(c.title, lines, w, h)
}

// loginModal asks for the password when a remote session is missing or
// expired.
type loginModal struct {
	input lineInput
	err   error
	busy  bool
}

func newLoginModal() *loginModal {
	l := &loginModal{}
	l.input.mask = true
	return l
}

func (l *loginModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	if l.busy {
		return nil
	}
	if k.Type == tea.KeyEnter {
		if l.input.Value() == "" {
			l.err = errors.New("type the password")
			return nil
		}
		l.busy, l.err = true, nil
		return loginCmd(m.box, l.input.Value())
	}
	l.input.handle(k)
	return nil
}

func (*loginModal) footer() []key.Binding {
	return shortHelp(bind(nil, "enter", "log in"), bind(nil, "ctrl+c", "quit"))
}

func (l *loginModal) view(m *Model, w, h int) []string {
	lines := []string{
		"This box wants its owner's password for a session.",
		stDim.Render("The session is kept in " + m.jar + ", as start-cli keeps it."),
		"",
		"Password: " + l.input.view(36, !l.busy),
	}
	switch {
	case l.busy:
		lines = append(lines, "", stDim.Render("Checking…"))
	case l.err != nil:
		lines = append(lines, "", stBad.Render(loginError(l.err)))
	}
	return boxed("Log in to "+m.conn.Target, lines, w, h)
}

// setupModal is the first-run wizard on a box with no owner: choose the
// owner's password (twice), and the console logs in with it.
type setupModal struct {
	inputs [2]lineInput
	focus  int
	err    error
	busy   bool
}

// minPasswordLen matches what setup.execute accepts.
const minPasswordLen = 8

func newSetupModal() *setupModal {
	s := &setupModal{}
	s.inputs[0].mask, s.inputs[1].mask = true, true
	return s
}

func (s *setupModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	if s.busy {
		return nil
	}
	switch k.Type {
	case tea.KeyTab, tea.KeyDown, tea.KeyShiftTab, tea.KeyUp:
		s.focus = 1 - s.focus
		return nil
	case tea.KeyEnter:
		pw, again := s.inputs[0].Value(), s.inputs[1].Value()
		switch {
		case len(pw) < minPasswordLen:
			s.err, s.focus = fmt.Errorf("the password needs at least %d characters", minPasswordLen), 0
		case s.focus == 0:
			s.focus, s.err = 1, nil
		case again != pw:
			s.err = errors.New("the two passwords differ")
			s.inputs[1].Set("")
		default:
			s.busy, s.err = true, nil
			return setupCmd(m.box, pw)
		}
		return nil
	}
	s.inputs[s.focus].handle(k)
	return nil
}

func (*setupModal) footer() []key.Binding {
	return shortHelp(bind(nil, "tab", "next field"), bind(nil, "enter", "set up"), bind(nil, "ctrl+c", "quit"))
}

func (s *setupModal) view(m *Model, w, h int) []string {
	lines := []string{
		"This box has no owner yet. Choose the owner's password:",
		stDim.Render("it protects every service on the box; start-cli auth login uses it too."),
		"",
		"Password:  " + s.inputs[0].view(36, !s.busy && s.focus == 0),
		"Repeat it: " + s.inputs[1].view(36, !s.busy && s.focus == 1),
	}
	switch {
	case s.busy:
		lines = append(lines, "", stDim.Render("Setting up…"))
	case s.err != nil:
		lines = append(lines, "", stBad.Render(loginError(s.err)))
	}
	return boxed("Set up "+m.conn.Target, lines, w, h)
}

// loginError says what went wrong in words: wrong password, or wait.
func loginError(err error) string {
	var e *rpc.Error
	if errors.As(err, &e) {
		switch e.Code {
		case rpc.CodeIncorrectPassword:
			return "Password incorrect."
		case rpc.CodeRateLimited:
			return "Too many attempts: " + e.Error()
		}
	}
	return err.Error()
}

// noteModal shows one notification in full.
type noteModal struct{ n model.Notification }

func (d *noteModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(k, keys.Back, keys.Enter, keys.Quit):
		m.modal = nil
	case key.Matches(k, keys.Delete):
		m.modal = nil
		return notificationCmd(m.box, "notification.remove", model.NotificationIDsParams{IDs: []uint32{d.n.ID}})
	}
	return nil
}

func (*noteModal) footer() []key.Binding { return shortHelp(keys.Back, keys.Delete) }

func (d *noteModal) view(m *Model, w, h int) []string {
	n := d.n
	meta := string(n.Level) + " · " + n.CreatedAt.In(m.loc).Format("2006-01-02 15:04:05")
	if n.PackageID != "" {
		meta += " · " + m.title(n.PackageID)
	}
	lines := []string{levelStyle(n.Level)(meta), ""}
	lines = append(lines, strings.Split(n.Message, "\n")...)
	if len(n.Data) > 0 && string(n.Data) != "null" {
		lines = append(lines, "", stDim.Render(string(compactJSON(n.Data))))
	}
	return boxed(n.Title, lines, w, h)
}
