package ui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/startos/model"
)

// Primary statuses a person sees; the derivation is the library's
// (model.DeriveStatus), so the console and start-cli agree.
const (
	statusError    = model.StatusError
	statusStarting = model.StatusStarting
	statusStopping = model.StatusStopping
	statusRunning  = model.DesiredRunning
	statusStopped  = model.DesiredStopped
)

// status is what the console shows of one package.
type status = model.DisplayStatus

func deriveStatus(e *model.PackageDataEntry) status { return model.DeriveStatus(e) }

// statusStyle colours a primary status.
func statusStyle(s string) lipgloss.Style {
	switch s {
	case statusRunning:
		return stOK
	case statusError:
		return stBad
	case statusStopped:
		return stDim
	default:
		return stWarn
	}
}

// healthSummary is the health column: "healthy 2/2", "failing: Web".
func healthSummary(e *model.PackageDataEntry, st status) string {
	if st.Health == "" {
		return ""
	}
	var names []string
	ok := 0
	for _, id := range sortedHealthIDs(e.StatusInfo.Health) {
		r := e.StatusInfo.Health[id]
		switch r.Result {
		case model.HealthSuccess, model.HealthDisabled:
			ok++
		default:
			if r.Result == st.Health {
				names = append(names, healthName(id, r))
			}
		}
	}
	switch st.Health {
	case model.HealthSuccess:
		return stOK.Render(fmt.Sprintf("healthy %d/%d", ok, len(e.StatusInfo.Health)))
	case model.HealthFailure:
		return stBad.Render("failing: " + strings.Join(names, ", "))
	default:
		return stWarn.Render(st.Health + ": " + strings.Join(names, ", "))
	}
}

func healthName(id string, r model.HealthCheckResult) string {
	if r.Name != "" {
		return r.Name
	}
	return id
}

func sortedHealthIDs(h map[string]model.HealthCheckResult) []string {
	ids := make([]string, 0, len(h))
	for id := range h {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// healthMark is the glyph before one check.
func healthMark(result string) string {
	switch result {
	case model.HealthSuccess:
		return stOK.Render("✓")
	case model.HealthFailure:
		return stBad.Render("✗")
	case model.HealthDisabled:
		return stDim.Render("-")
	default:
		return stWarn.Render("…")
	}
}

// actionNote says when an action may run, from its allowedStatuses, for
// the page. Whether it may run now is the daemon's to decide: it refuses
// with a reason, which the result shows.
func actionNote(a live.Action) string {
	if len(a.AllowedStatuses) != 1 {
		return ""
	}
	switch s := strings.TrimPrefix(a.AllowedStatuses[0], "only-"); s {
	case "any", "":
		return ""
	default:
		return "only when " + s
	}
}

// progressText reads a Progress: the bar's done and total (0, 0 when it
// cannot be measured) and the figure to print.
func progressText(p model.Progress) (done, total float64, text string) {
	switch p.Kind {
	case model.ProgressComplete:
		return 1, 1, "done"
	case model.ProgressIndeterminate:
		return 0, 0, "working"
	case model.ProgressMeasured:
		if p.Total == nil || *p.Total == 0 {
			if p.Units == "bytes" {
				return 0, 0, humanBytes(int64(p.Done))
			}
			return 0, 0, fmt.Sprintf("%d", p.Done)
		}
		t := float64(*p.Total)
		return float64(p.Done), t, fmt.Sprintf("%d%%", int(float64(p.Done)/t*100))
	}
	return 0, 0, "waiting"
}

// currentPhase is the first phase not complete, for the list's one-line
// view of an install.
func currentPhase(fp model.FullProgress) string {
	for _, ph := range fp.Phases {
		if ph.Progress.Kind != model.ProgressComplete {
			return ph.Name
		}
	}
	return ""
}
