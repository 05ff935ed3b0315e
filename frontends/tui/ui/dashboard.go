package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/model"
)

func (m *Model) viewDashboard(w, h int) []string {
	if m.state == nil {
		return []string{"", " " + stDim.Render("Waiting for the daemon…")}
	}
	si := m.state.Doc.ServerInfo
	label := func(s string) string { return " " + stDim.Render(fmt.Sprintf("%-14s", s)) }
	host := si.Name
	if si.Hostname != "" && si.Hostname != si.Name {
		host += stDim.Render(" (" + si.Hostname + ")")
	}
	lines := []string{
		"",
		label("Server") + stBold.Render(host),
		label("Version") + "StartOS " + si.Version + stDim.Render(" · "+si.Arch),
		label("Uptime") + m.uptime(),
	}
	if m.watchdog != nil && m.watchdog.Supported {
		lines = append(lines, label("Watchdog")+m.watchdogLine())
	}
	lines = append(lines, "")
	lines = append(lines, m.metricLines(w, label)...)
	lines = append(lines, "", label("Services")+m.servicesSummary(), label("Notifications")+m.unreadLine())
	if st := si.StatusInfo; st.ShuttingDown || st.Restarting || st.UpdateProgress != nil || st.Updated {
		var s []string
		switch {
		case st.ShuttingDown:
			s = append(s, "shutting down")
		case st.Restarting:
			s = append(s, "restarting")
		}
		if st.UpdateProgress != nil {
			s = append(s, "updating")
		}
		if st.Updated {
			s = append(s, "update installed: restart to apply")
		}
		lines = append(lines, label("Box")+stWarn.Render(strings.Join(s, " · ")))
	}
	return lines
}

func (m *Model) uptime() string {
	if m.clock == nil {
		return stDim.Render("unknown")
	}
	up := time.Duration(m.clock.Time.Uptime)*time.Second + m.now().Sub(m.clock.At)
	return duration(up)
}

func (m *Model) watchdogLine() string {
	wd := m.watchdog
	if wd.Err != nil {
		return stBad.Render("unreadable: " + wd.Err.Error())
	}
	st := wd.Status
	var worst []string
	for _, p := range st.Probes {
		if p.State == model.ProbeMiss || p.State == model.ProbeMegamiss {
			s := p.Name + " " + p.State
			if p.LastError != "" {
				s += ": " + p.LastError
			}
			worst = append(worst, s)
		}
	}
	text := fmt.Sprintf("%s (%d probes)", st.State, len(st.Probes))
	if len(worst) > 0 {
		text += " · " + strings.Join(worst, "; ")
	}
	switch st.State {
	case model.WatchdogOK:
		return stOK.Render(text)
	case model.WatchdogStalled:
		return stBad.Render(text)
	}
	return stWarn.Render(text)
}

// metricLines shows CPU, memory, disk (each with a sparkline of its recent
// samples) and temperature.
func (m *Model) metricLines(w int, label func(string) string) []string {
	if len(m.metrics) == 0 {
		return []string{label("Load") + stDim.Render("waiting for the first sample…")}
	}
	last := m.metrics[len(m.metrics)-1]
	spark := min(max(w-62, 8), 48)
	series := func(pick func(model.Metrics) model.MetricValue) []float64 {
		out := make([]float64, 0, len(m.metrics))
		for _, s := range m.metrics {
			v, _ := pick(s).Float()
			out = append(out, v)
		}
		return out
	}
	row := func(name string, pick func(model.Metrics) model.MetricValue, detail string) string {
		v := pick(last)
		pct, _ := v.Float()
		st := stOK
		switch {
		case pct >= 90:
			st = stBad
		case pct >= 75:
			st = stWarn
		}
		return label(name) + st.Render(fmt.Sprintf("%5.1f%%", pct)) + "  " +
			stInfo.Render(sparkline(series(pick), spark)) + "  " + stDim.Render(detail)
	}
	c, mem, d := last.CPU, last.Memory, last.Disk
	lines := []string{
		row("CPU", func(s model.Metrics) model.MetricValue { return s.CPU.PercentageUsed },
			fmt.Sprintf("user %s kernel %s wait %s", c.UserSpace.Value, c.KernelSpace.Value, c.Wait.Value)),
		row("Memory", func(s model.Metrics) model.MetricValue { return s.Memory.PercentageUsed },
			fmt.Sprintf("%s / %s %s", mem.Used.Value, mem.Total.Value, mem.Total.Unit)),
		row("Disk", func(s model.Metrics) model.MetricValue { return s.Disk.PercentageUsed },
			fmt.Sprintf("%s / %s %s", d.Used.Value, d.Capacity.Value, d.Capacity.Unit)),
	}
	if t := last.General.Temperature; t != nil {
		lines = append(lines, label("Temperature")+fmt.Sprintf("%5s %s", t.Value, t.Unit))
	}
	return lines
}

func (m *Model) servicesSummary() string {
	if len(m.state.Doc.PackageData) == 0 {
		return stDim.Render("none installed")
	}
	counts := map[string]int{}
	var order []string
	for _, id := range m.sortedPackageIDs() {
		e := m.state.Doc.PackageData[id]
		s := deriveStatus(&e).Primary
		if counts[s] == 0 {
			order = append(order, s)
		}
		counts[s]++
	}
	// Fixed order for the common states, then the rest as they came.
	var parts []string
	for _, s := range []string{statusRunning, statusStarting, statusStopping, statusStopped, statusError} {
		if n := counts[s]; n > 0 {
			parts = append(parts, statusStyle(s).Render(fmt.Sprintf("%d %s", n, s)))
			delete(counts, s)
		}
	}
	for _, s := range order {
		if n := counts[s]; n > 0 {
			parts = append(parts, statusStyle(s).Render(fmt.Sprintf("%d %s", n, s)))
		}
	}
	return strings.Join(parts, stDim.Render(" · "))
}

func (m *Model) unreadLine() string {
	if u := m.unread(); u > 0 {
		return stWarn.Render(fmt.Sprintf("%d unread", u)) + stDim.Render(" (press 4)")
	}
	return stDim.Render("none unread")
}
