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
	top     int // first line shown while not following

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
	for i := top; i < min(top+rows, len(p.lines)); i++ {
		lines = append(lines, m.logLine(p.lines[i], q, i == cur, w))
	}
	if p.searching {
		lines = block(lines, w, h-1)
		lines = append(lines, " / "+p.search.view(w-4, true))
	}
	return lines
}

func (m *Model) logLine(e model.LogEntry, q string, current bool, w int) string {
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
	msg := cut(e.Message, max(w-len(ts)-8, 10))
	if q != "" {
		msg = highlight(msg, q)
	}
	return head + msg
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
