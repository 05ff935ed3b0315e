package ui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/startos-go/startos/internal/bytesize"
)

// Fixed ANSI colours (0-15): the terminal's own palette, so nothing is
// probed and every theme stays readable. Under NO_COLOR the profile is
// Ascii and every style renders as plain text, which is why selection is
// also marked with ">" and the active tab with brackets.
var (
	stBold     = lipgloss.NewStyle().Bold(true)
	stDim      = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	stOK       = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	stWarn     = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	stBad      = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	stInfo     = lipgloss.NewStyle().Foreground(lipgloss.Color("6"))
	stSelected = lipgloss.NewStyle().Reverse(true)
	stTab      = lipgloss.NewStyle().Bold(true).Reverse(true)
	stHeader   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("6"))
	stBorder   = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1)
	stMatch    = lipgloss.NewStyle().Foreground(lipgloss.Color("0")).Background(lipgloss.Color("3"))
)

// fit makes s exactly w cells wide: cut with an ellipsis, or padded.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	if pad := w - ansi.StringWidth(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

// wrapText breaks plain text into rows of at most w cells, at spaces where
// it can, anywhere where it must (a long token, a path).
func wrapText(s string, w int) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		out = append(out, strings.Split(ansi.Wrap(para, w, " "), "\n")...)
	}
	return out
}

func ansiWidth(s string) int { return ansi.StringWidth(s) }

// cut shortens s to at most w cells, without padding.
func cut(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s
}

// block makes lines exactly w wide and h tall.
func block(lines []string, w, h int) []string {
	out := make([]string, h)
	for i := range out {
		if i < len(lines) {
			out[i] = fit(lines[i], w)
		} else {
			out[i] = strings.Repeat(" ", max(w, 0))
		}
	}
	return out
}

// splitLines splits a rendered block into lines.
func splitLines(s string) []string { return strings.Split(s, "\n") }

// spread puts left and right on one line of width w, right-aligned.
func spread(left, right string, w int) string {
	lw, rw := ansi.StringWidth(left), ansi.StringWidth(right)
	if lw+rw+1 > w {
		return fit(left, max(w-rw-1, 0)) + " " + right
	}
	return left + strings.Repeat(" ", w-lw-rw) + right
}

// center places a rendered block in the middle of a w×h area.
func center(s string, w, h int) []string {
	return splitLines(lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, s))
}

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last n values (0-100) as a row of bars, n cells
// wide: it fills from the left as samples arrive.
func sparkline(values []float64, n int) string {
	if n <= 0 {
		return ""
	}
	if len(values) > n {
		values = values[len(values)-n:]
	}
	var b strings.Builder
	for _, v := range values {
		i := int(math.Round(v / 100 * float64(len(sparkRunes)-1)))
		b.WriteRune(sparkRunes[min(max(i, 0), len(sparkRunes)-1)])
	}
	b.WriteString(strings.Repeat(" ", n-len(values)))
	return b.String()
}

// bar draws a progress bar w cells wide, done of total.
func bar(done, total float64, w int) string {
	if w <= 0 {
		return ""
	}
	filled := 0
	if total > 0 {
		filled = int(math.Round(done / total * float64(w)))
	}
	filled = min(max(filled, 0), w)
	return strings.Repeat("█", filled) + strings.Repeat("░", w-filled)
}

// ago says how long before now t was, coarsely.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return duration(d) + " ago"
}

// duration is a coarse human duration: 45s, 12m, 3h 12m, 4d 2h.
func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// humanBytes prints a byte count in binary units.
func humanBytes(n int64) string { return bytesize.Format(float64(n)) }
