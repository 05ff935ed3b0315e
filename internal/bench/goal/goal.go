// Package goal collects the figures `just bench` holds to a goal (issue 17's
// table), so each is printed with its goal beside it and "ok" or "short",
// and all of them again in one table at the end of the run.
package goal

import (
	"fmt"
	"io"
	"sync"
)

// A Figure is one measure: what was measured, the value as printed, the goal
// as printed, and whether the value meets it.
type Figure struct {
	Measure string
	Value   string
	Goal    string
	OK      bool
}

var (
	mu      sync.Mutex
	figures []Figure
)

// Report prints f on w as one line and keeps it for Table.
func Report(w io.Writer, f Figure) {
	mu.Lock()
	figures = append(figures, f)
	mu.Unlock()
	fmt.Fprintf(w, "goal     %-62s %14s  goal %-12s %s\n", f.Measure, f.Value, f.Goal, verdict(f.OK))
}

// AtMost reports a figure that meets its goal when value <= limit.
func AtMost(w io.Writer, measure string, value, limit float64, format, goal string) {
	Report(w, Figure{Measure: measure, Value: fmt.Sprintf(format, value), Goal: goal, OK: value <= limit})
}

// AtLeast reports a figure that meets its goal when value >= limit.
func AtLeast(w io.Writer, measure string, value, limit float64, format, goal string) {
	Report(w, Figure{Measure: measure, Value: fmt.Sprintf(format, value), Goal: goal, OK: value >= limit})
}

// Table prints every figure reported so far.
func Table(w io.Writer) {
	mu.Lock()
	defer mu.Unlock()
	if len(figures) == 0 {
		return
	}
	fmt.Fprintf(w, "== goals\n| measure | now | goal | |\n|---|---|---|---|\n")
	for _, f := range figures {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", f.Measure, f.Value, f.Goal, verdict(f.OK))
	}
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "short"
}
