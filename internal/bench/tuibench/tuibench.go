// Package tuibench measures start-tui's console with 50 packages: the time to
// render the services list, the time to apply a state revision (Update with
// the new document, then View: one frame), and the heap the console holds.
// Decoding a revision happens on the live connection's goroutine, not in
// the frame, so it is timed on its own. Frame times are set against a 60 Hz
// frame (16.7 ms), the budget a terminal redraw has. `just bench` calls Run.
package tuibench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/frontends/tui/ui"
	"github.com/startos-go/startos/startos/model"
)

type config struct {
	packages int // in the document
	renders  int // services-list renders timed
	frames   int // revisions applied
	logLines int // log lines the console holds while its memory is read
}

var defaultConfig = config{packages: 50, renders: 2000, frames: 2000, logLines: 5000}

// frameBudget is one frame at 60 Hz.
const frameBudget = time.Second / 60

// Run prints one line per figure to w.
func Run(ctx context.Context, w io.Writer) error { return run(ctx, w, defaultConfig) }

// defaultEpoch is the synthetic box's clock.
var defaultEpoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func run(ctx context.Context, w io.Writer, cfg config) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	epoch := defaultEpoch
	doc := synthetic(cfg.packages, epoch)
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}

	// Memory: the heap the console holds with the document, a full metrics
	// history and a full log pane, over the heap before it existed.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st, err := live.DecodeState(1, raw)
	if err != nil {
		return err
	}
	m := ui.New(ui.Options{Width: 120, Height: 40, Now: func() time.Time { return epoch }, Location: time.UTC})
	m.Update(ui.LiveMsg{Update: live.Update{
		Conn:    &live.ConnState{Phase: live.Connected, Target: "unix:///run/startos/rpc.sock"},
		State:   st,
		Clock:   &live.ServerClock{Time: model.ServerTime{Now: epoch, Uptime: 3600}, At: epoch},
		Metrics: metrics(120, epoch),
		Logs:    &live.LogBatch{Reset: true, Entries: logs(cfg.logLines, epoch)},
	}})
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("2")})
	view := m.View()
	if !strings.Contains(view, "Package 00") {
		return fmt.Errorf("the services list does not show the synthetic packages:\n%s", view)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapInuse) - int64(before.HeapInuse)
	fmt.Fprintf(w, "tui      memory, %d packages        heap in use %.1f MiB (the console's share %.1f MiB: document %d KB as JSON, %d log lines, %d metrics samples)\n",
		cfg.packages, mib(after.HeapInuse), float64(held)/(1<<20), len(raw)/1000, cfg.logLines, 120)

	// Rendering the services list.
	renders := make([]time.Duration, 0, cfg.renders)
	for i := range cfg.renders {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		t0 := time.Now()
		_ = m.View()
		renders = append(renders, time.Since(t0))
	}
	line(w, fmt.Sprintf("services list render, %d packages", cfg.packages), renders)

	// Revisions: each changes one package (a health result, an install's
	// progress), as the daemon's revisions do. Decoding is timed apart.
	docs := make([][]byte, cfg.frames)
	for i := range docs {
		mutate(&doc, i, epoch)
		if docs[i], err = json.Marshal(doc); err != nil {
			return err
		}
	}
	decodes := make([]time.Duration, 0, cfg.frames)
	states := make([]*live.State, cfg.frames)
	var dec live.Decoder // as the box decodes: unchanged manifests are reused
	if _, err := dec.Decode(1, raw); err != nil {
		return err
	}
	for i, b := range docs {
		t0 := time.Now()
		if states[i], err = dec.Decode(uint64(i+2), b); err != nil {
			return err
		}
		decodes = append(decodes, time.Since(t0))
	}
	frames := make([]time.Duration, 0, cfg.frames)
	for i, s := range states {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		t0 := time.Now()
		m.Update(ui.LiveMsg{Update: live.Update{State: s}})
		_ = m.View()
		frames = append(frames, time.Since(t0))
	}
	line(w, "apply a revision (Update + View)", frames)
	line(w, "decode a revision (off the UI)", decodes)
	return nil
}

func line(w io.Writer, what string, ds []time.Duration) {
	slices.Sort(ds)
	p50, p99 := pct(ds, 50), pct(ds, 99)
	fmt.Fprintf(w, "tui      %-38s n=%d  p50=%s  p99=%s  p99/frame=%.1f%% (of %s at 60 Hz)\n",
		what, len(ds), round(p50), round(p99), 100*float64(p99)/float64(frameBudget), round(frameBudget))
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)*p/100, len(sorted)-1)]
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d > 10*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// synthetic is a box with n packages: most installed (running, with health
// checks, some failing; some stopped; one in error), a few installing.
func synthetic(n int, epoch time.Time) model.PublicDocument {
	doc := model.PublicDocument{
		ServerInfo:  model.ServerInfo{ID: "bench", Name: "Bench Box", Hostname: "bench-box", Version: "0.1.0", Arch: "x86_64", UnreadNotificationCount: 3},
		PackageData: make(map[string]model.PackageDataEntry, n),
		UI:          json.RawMessage(`{}`),
	}
	started := epoch.Add(-time.Hour)
	for i := range n {
		id := fmt.Sprintf("package-%02d", i)
		mf := manifest(id, fmt.Sprintf("Package %02d", i))
		e := model.PackageDataEntry{
			StatusInfo:          model.PackageStatusInfo{Desired: model.DesiredStatus{Main: model.DesiredStopped}, Health: map[string]model.HealthCheckResult{}},
			CurrentDependencies: map[string]model.CurrentDependency{},
		}
		switch {
		case i%10 == 9:
			total := uint64(1000)
			e.StateInfo = model.StateInfo{State: model.PackageInstalling, InstallingInfo: &model.InstallingInfo{NewManifest: mf,
				Progress: model.FullProgress{Overall: model.Progress{Kind: model.ProgressMeasured, Done: 100, Total: &total},
					Phases: []model.NamedProgress{
						{Name: "Uploading", Progress: model.Progress{Kind: model.ProgressComplete}},
						{Name: "Validating Headers", Progress: model.Progress{Kind: model.ProgressMeasured, Done: 1, Total: &total}},
						{Name: "Unpacking", Progress: model.Progress{}},
						{Name: "Installing", Progress: model.Progress{}},
					}}}}
		case i%10 == 8:
			e.StateInfo = model.StateInfo{State: model.PackageInstalled, Manifest: mf}
		default:
			e.StateInfo = model.StateInfo{State: model.PackageInstalled, Manifest: mf}
			e.StatusInfo.Desired.Main = model.DesiredRunning
			e.StatusInfo.Started = &started
			for _, hc := range []string{"web", "rpc", "sync"} {
				e.StatusInfo.Health[hc] = model.HealthCheckResult{Name: strings.ToUpper(hc), Result: model.HealthSuccess, Message: "ready"}
			}
			if i == 7 {
				e.StatusInfo.Error = &model.ErrorData{Details: "main exited with code 1"}
			}
		}
		doc.PackageData[id] = e
	}
	return doc
}

// mutate makes revision i: one package changes.
func mutate(doc *model.PublicDocument, i int, epoch time.Time) {
	id := fmt.Sprintf("package-%02d", i%len(doc.PackageData))
	e := doc.PackageData[id]
	if info := e.StateInfo.InstallingInfo; info != nil {
		info.Progress.Overall.Done = uint64(100 + i%900)
		info.Progress.Phases[1].Progress.Done = uint64(i % 1000)
	} else if len(e.StatusInfo.Health) > 0 {
		h := e.StatusInfo.Health
		r := h["sync"]
		if r.Result == model.HealthSuccess {
			r.Result, r.Message = model.HealthLoading, fmt.Sprintf("syncing: %d%%", i%100)
		} else {
			r.Result, r.Message = model.HealthSuccess, "ready"
		}
		h["sync"] = r
	}
	doc.PackageData[id] = e
}

// manifest is a realistic manifest.json (~2 KB): health checks,
// interfaces, actions with input specs, dependencies.
func manifest(id, title string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%q,"title":%q,"version":"1.2.3.4","releaseNotes":"Fixes and updates.","license":"mit",
"wrapperRepo":"https://github.com/example/%[1]s-wrapper","upstreamRepo":"https://github.com/example/%[1]s",
"description":{"short":"A service for the bench","long":"A longer description of the service that the benchmark carries, as real manifests carry several sentences about what a service does and why."},
"main":{"type":"docker","image":"main","entrypoint":"docker_entrypoint.sh","args":[],"mounts":{"main":"/data"}},
"healthChecks":{"web":{"name":"WEB","successMessage":"The web interface is ready"},"rpc":{"name":"RPC"},"sync":{"name":"SYNC"}},
"volumes":{"main":{"type":"data"}},
"interfaces":{"main":{"name":"Web Interface","description":"The web interface","lanConfig":{"443":{"ssl":true,"internal":80}},"ui":true,"protocols":["tcp","http"]},
 "rpc":{"name":"RPC","description":"The RPC interface","lanConfig":{"8332":{"ssl":false,"internal":8332}},"ui":false,"protocols":["tcp","http"]}},
"actions":{"reset":{"name":"Reset","description":"Reset the service","allowedStatuses":["running","stopped"],"implementation":{"type":"docker","image":"main","entrypoint":"reset.sh"},
  "inputSpec":{"greeting":{"type":"string","name":"Greeting","nullable":false,"default":"hello"},"count":{"type":"number","name":"Count","integral":true}}},
 "show":{"name":"Show credentials","description":"Prints the login","allowedStatuses":["running"],"implementation":{"type":"docker","image":"main","entrypoint":"show.sh"}},
 "wipe":{"name":"Wipe cache","description":"Deletes the cache","warning":"Slow for a while.","allowedStatuses":["stopped"],"implementation":{"type":"docker","image":"main","entrypoint":"wipe.sh"}}},
"dependencies":{"package-00":{"version":">=1.0.0","requirement":{"type":"required"},"description":"Needs the first package"}},
"alerts":{"uninstall":"Its data is deleted."}}`, id, title))
}

func metrics(n int, epoch time.Time) []model.Metrics {
	out := make([]model.Metrics, n)
	v := func(f float64, unit string) model.MetricValue {
		return model.MetricValue{Value: fmt.Sprintf("%.1f", f), Unit: unit}
	}
	for i := range out {
		out[i] = model.Metrics{SampledAt: epoch.Add(time.Duration(i) * 4 * time.Second),
			CPU:    model.MetricsCPU{PercentageUsed: v(float64(i%100), "%"), UserSpace: v(1, "%"), KernelSpace: v(1, "%"), Wait: v(0, "%"), Idle: v(50, "%")},
			Memory: model.MetricsMemory{PercentageUsed: v(40, "%"), Used: v(3000, "MiB"), Total: v(8000, "MiB")},
			Disk:   model.MetricsDisk{PercentageUsed: v(60, "%"), Used: v(150, "GB"), Capacity: v(250, "GB")},
		}
	}
	return out
}

func logs(n int, epoch time.Time) []model.LogEntry {
	out := make([]model.LogEntry, n)
	for i := range out {
		out[i] = model.LogEntry{Timestamp: epoch.Add(time.Duration(i) * time.Millisecond), Level: "info",
			Message: fmt.Sprintf("startd.rpc: call: method=server.metrics transport=websocket took=%dus", i%500), Cursor: fmt.Sprint(i)}
	}
	return out
}
