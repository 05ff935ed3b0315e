package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/startos/model"
)

// maxLogLines bounds the log pane's memory; older lines are dropped.
const maxLogLines = 5000

// logPane follows a log stream: it sticks to the end while following,
// scrolls, and searches.
type logPane struct {
	source  string // "" the daemon, else a package id
	lines   []model.LogEntry
	dropped int // lines not shown because the stream outran the console
	err     error
	follow  bool
	top     int  // first line shown while not following
	wrap    bool // long lines continue on the next rows
	shift   int  // cells scrolled sideways while not wrapping

	search    lineInput
	searching bool  // keys go to the search
	matches   []int // indexes into lines
	match     int   // current match
}

func (m *Model) followLogs(source string) {
	if m.logs.source != source || m.logs.err != nil {
		m.logs = logPane{source: source, follow: true, search: m.logs.search, searching: false}
		if m.box != nil {
			m.box.FollowLogs(source)
		}
	}
}

// add takes a batch from the stream. Batches for another source (the
// stream switched and old entries were in flight) are ignored.
func (p *logPane) add(b *live.LogBatch) {
	if b.Source != p.source {
		return
	}
	if b.Reset {
		p.lines, p.dropped, p.top = nil, 0, 0
	}
	p.err = b.Err
	p.dropped += b.Dropped
	p.lines = append(p.lines, b.Entries...)
	// Drop the oldest in chunks, so appends stay cheap.
	if n := len(p.lines) - maxLogLines; n > maxLogLines/4 || (n > 0 && b.Reset) {
		p.lines = append(p.lines[:0:0], p.lines[n:]...)
		p.top = max(p.top-n, 0)
	}
	p.research()
}

// visible is how many lines fit under the pane's title line.
func visible(h int) int { return max(h-1, 1) }

// start is the first line kept in view: at most maxLogLines are shown.
func (p *logPane) start() int { return max(len(p.lines)-maxLogLines, 0) }

func (p *logPane) research() {
	q := strings.ToLower(p.search.Value())
	p.matches = p.matches[:0]
	if q == "" {
		return
	}
	for i := p.start(); i < len(p.lines); i++ {
		if strings.Contains(strings.ToLower(p.lines[i].Message), q) {
			p.matches = append(p.matches, i)
		}
	}
	p.match = min(p.match, max(len(p.matches)-1, 0))
}

func (p *logPane) typeSearch(k tea.KeyMsg) {
	switch k.Type {
	case tea.KeyEnter:
		p.searching = false
		p.research()
		if len(p.matches) > 0 {
			p.match = len(p.matches) - 1 // the newest match first
			p.jump()
		}
	case tea.KeyEsc:
		p.searching = false
		p.search.Set("")
		p.research()
	default:
		if p.search.handle(k) {
			p.research()
		}
	}
}

// jump scrolls to the current match and stops following.
func (p *logPane) jump() {
	if len(p.matches) == 0 {
		return
	}
	p.follow = false
	p.top = p.matches[p.match]
}

func (m *Model) logsKey(k tea.KeyMsg) {
	p := &m.logs
	n := visible(m.bodyHeight())
	maxTop := max(len(p.lines)-n, p.start())
	if p.follow {
		p.top = maxTop
	}
	switch {
	case key.Matches(k, keys.Up):
		p.follow, p.top = false, max(p.top-1, p.start())
	case key.Matches(k, keys.Down):
		p.top = min(p.top+1, maxTop)
	case key.Matches(k, keys.PageUp):
		p.follow, p.top = false, max(p.top-n, p.start())
	case key.Matches(k, keys.PageDown):
		p.top = min(p.top+n, maxTop)
	case key.Matches(k, keys.Top):
		p.follow, p.top = false, p.start()
	case key.Matches(k, keys.Bottom):
		p.follow = true
	case key.Matches(k, keys.Follow):
		p.follow = !p.follow
	case key.Matches(k, keys.Filter):
		p.searching = true
	case key.Matches(k, keys.NextMatch):
		if len(p.matches) > 0 {
			p.match = (p.match + 1) % len(p.matches)
			p.jump()
		}
	case key.Matches(k, keys.PrevMatch):
		if len(p.matches) > 0 {
			p.match = (p.match + len(p.matches) - 1) % len(p.matches)
			p.jump()
		}
	case key.Matches(k, keys.Back):
		p.search.Set("")
		p.research()
	case key.Matches(k, keys.DaemonLog):
		m.followLogs("")
	case key.Matches(k, keys.Wrap):
		p.wrap, p.shift = !p.wrap, 0
	case k.Type == tea.KeyRight && !p.wrap:
		p.shift += 20
	case k.Type == tea.KeyLeft && !p.wrap:
		p.shift = max(p.shift-20, 0)
	case key.Matches(k, keys.Enter):
		if e, ok := p.focused(m.bodyHeight()); ok {
			m.modal = &logLineModal{e: e}
		}
	}
	// Scrolling to the end resumes following, as a pager's F does.
	if !p.follow && p.top >= maxTop && key.Matches(k, keys.Down, keys.PageDown) {
		p.follow = true
	}
}

func (p *logPane) view(m *Model, w, h int) []string {
	name := "Daemon log"
	if p.source != "" {
		name = m.title(p.source) + " log"
	}
	state := stOK.Render("following")
	if !p.follow {
		state = stWarn.Render("paused")
	}
	right := fmt.Sprintf("%d lines", len(p.lines))
	if p.dropped > 0 {
		right += stWarn.Render(fmt.Sprintf(" · %d skipped", p.dropped))
	}
	if q := p.search.Value(); q != "" && !p.searching {
		if len(p.matches) == 0 {
			right += stDim.Render(fmt.Sprintf(" · %q: no match", q))
		} else {
			right += stDim.Render(fmt.Sprintf(" · %q: %d/%d", q, p.match+1, len(p.matches)))
		}
	}
	lines := []string{spread(" "+stBold.Render(name)+stDim.Render(" · ")+state, right+" ", w)}
	rows := visible(h)
	if p.searching {
		rows--
	}
	if p.err != nil {
		lines = append(lines, " "+stBad.Render(p.err.Error()))
		rows--
	}
	top := p.top
	if p.follow {
		top = len(p.lines) - rows
	}
	top = max(min(top, len(p.lines)-rows), p.start(), 0)
	q := strings.ToLower(p.search.Value())
	cur := -1
	if len(p.matches) > 0 {
		cur = p.matches[p.match]
	}
	if len(p.lines) == 0 && p.err == nil {
		lines = append(lines, " "+stDim.Render("No entries yet."))
	}
	if p.wrap {
		// Rows for entries from top on; following, the newest entries' rows.
		var body []string
		for i := top; i < len(p.lines) && (p.follow || len(body) < rows); i++ {
			body = append(body, m.logRows(p.lines[i], q, i == cur, w)...)
		}
		if len(body) > rows {
			if p.follow {
				body = body[len(body)-rows:]
			} else {
				body = body[:rows]
			}
		}
		lines = append(lines, body...)
	} else {
		for i := top; i < min(top+rows, len(p.lines)); i++ {
			lines = append(lines, m.logLine(p.lines[i], q, i == cur, w, p.shift))
		}
	}
	if p.searching {
		lines = block(lines, w, h-1)
		lines = append(lines, " / "+p.search.view(w-4, true))
	}
	return lines
}

// focused is the entry enter opens: the current search match, else the
// newest line on screen.
func (p *logPane) focused(h int) (model.LogEntry, bool) {
	if len(p.matches) > 0 {
		return p.lines[p.matches[p.match]], true
	}
	if len(p.lines) == 0 {
		return model.LogEntry{}, false
	}
	i := len(p.lines) - 1
	if !p.follow {
		i = min(p.top+visible(h)-1, i)
	}
	return p.lines[max(i, 0)], true
}

// logRows is one entry wrapped to w: the head, then the message in rows
// indented under it.
func (m *Model) logRows(e model.LogEntry, q string, current bool, w int) []string {
	head := m.logHead(e, current)
	indent := ansiWidth(head)
	var out []string
	for i, row := range wrapText(e.Message, max(w-indent, 10)) {
		if q != "" {
			row = highlight(row, q)
		}
		if i == 0 {
			out = append(out, head+row)
		} else {
			out = append(out, strings.Repeat(" ", indent)+row)
		}
	}
	return out
}

func (m *Model) logLine(e model.LogEntry, q string, current bool, w, shift int) string {
	head := m.logHead(e, current)
	msg := e.Message
	if shift > 0 {
		r := []rune(msg)
		msg = "…" + string(r[min(shift, len(r)):])
	}
	msg = cut(msg, max(w-ansiWidth(head), 10))
	if q != "" {
		msg = highlight(msg, q)
	}
	return head + msg
}

// logHead is the time and level before a log message.
func (m *Model) logHead(e model.LogEntry, current bool) string {
	ts := e.Timestamp.In(m.loc).Format("15:04:05")
	lvl := strings.ToUpper(e.Level)
	st := stDim
	switch e.Level {
	case "error":
		st = stBad
	case "stderr": // a package's standard error
		lvl, st = "ERR", stBad
	case "warn":
		st = stWarn
	case "info":
		st = stInfo
	}
	prefix := " "
	if current {
		prefix = ">"
	}
	head := prefix + stDim.Render(ts) + " "
	if lvl != "" {
		head += st.Render(fmt.Sprintf("%-5s", lvl)) + " "
	}
	return head
}

// logLineModal shows one log entry in full, wrapped.
type logLineModal struct{ e model.LogEntry }

func (d *logLineModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	if key.Matches(k, keys.Back, keys.Enter, keys.Quit) {
		m.modal = nil
	}
	return nil
}

func (*logLineModal) footer() []key.Binding { return shortHelp(keys.Back) }

func (d *logLineModal) view(m *Model, w, h int) []string {
	meta := d.e.Timestamp.In(m.loc).Format("2006-01-02 15:04:05.000") + " · " + strings.ToUpper(d.e.Level)
	lines := []string{stDim.Render(meta), ""}
	lines = append(lines, wrapText(d.e.Message, max(w-8, 20))...)
	return boxed("Log line", lines, w, h)
}

// highlight marks each case-insensitive occurrence of q in s.
func highlight(s, q string) string {
	lower := strings.ToLower(s)
	if len(lower) != len(s) {
		return s // case folding changed lengths: do not risk cutting a rune
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, q)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(stMatch.Render(s[i : i+len(q)]))
		s, lower = s[i+len(q):], lower[i+len(q):]
	}
}
