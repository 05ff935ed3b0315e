package service

import (
	"testing"
	"time"

	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// The engine runs a package's health check only when it can run it as the
// daemon would: one check, an exec in the main container, no input.
func TestEngineProbeEligibility(t *testing.T) {
	o := Options{HealthGrace: 5 * time.Second, HealthInterval: 15 * time.Second, HealthTimeout: 30 * time.Second}
	inject := func(mod func(*manifest.HealthCheck)) *manifest.HealthCheck {
		hc := &manifest.HealthCheck{Name: "Web", Procedure: manifest.Procedure{Type: manifest.ProcedureDocker, Image: "main", Entrypoint: "/app", Args: []string{"health", "--quick"}, Inject: true}}
		if mod != nil {
			mod(hc)
		}
		return hc
	}
	for _, tc := range []struct {
		name   string
		checks map[string]*manifest.HealthCheck
		want   *container.Probe
	}{
		{"one exec", map[string]*manifest.HealthCheck{"web": inject(nil)},
			&container.Probe{Cmd: []string{"/app", "health", "--quick"}, Interval: 15 * time.Second, Timeout: 30 * time.Second, StartPeriod: 5 * time.Second}},
		{"own timeout, no entrypoint", map[string]*manifest.HealthCheck{"web": inject(func(h *manifest.HealthCheck) { h.Timeout = manifest.Duration(time.Second); h.Entrypoint = "" })},
			&container.Probe{Cmd: []string{"health", "--quick"}, Interval: 15 * time.Second, Timeout: time.Second, StartPeriod: 5 * time.Second}},
		{"no checks", nil, nil},
		{"two checks", map[string]*manifest.HealthCheck{"web": inject(nil), "db": inject(nil)}, nil},
		{"a one-off container", map[string]*manifest.HealthCheck{"web": inject(func(h *manifest.HealthCheck) { h.Inject = false })}, nil},
		{"input on stdin", map[string]*manifest.HealthCheck{"web": inject(func(h *manifest.HealthCheck) { h.IOFormat = "json" })}, nil},
		{"system image", map[string]*manifest.HealthCheck{"web": inject(func(h *manifest.HealthCheck) { h.System = true })}, nil},
		{"done by the daemon", map[string]*manifest.HealthCheck{"web": inject(func(h *manifest.HealthCheck) { h.Native = manifest.NativeProperties })}, nil},
		{"no check behind the id", map[string]*manifest.HealthCheck{"web": nil}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, hc, got := engineProbe(o, &manifest.Manifest{HealthChecks: tc.checks})
			if !got.Equal(tc.want) {
				t.Fatalf("probe %+v, want %+v", got, tc.want)
			}
			if got != nil && (id != "web" || hc != tc.checks["web"]) {
				t.Errorf("check %q %p, want web %p", id, hc, tc.checks["web"])
			}
		})
	}
}

// The engine's outcomes map to results as the daemon's execs do, its
// timeout included.
func TestProbeResult(t *testing.T) {
	hc := &manifest.HealthCheck{Name: "Web", SuccessMessage: "ready"}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		code   int
		output string
		want   model.HealthCheckResult
	}{
		{0, "noise\n", model.HealthCheckResult{Name: "Web", Result: model.HealthSuccess, Message: "ready"}},
		{1, "first\nsecond\n", model.HealthCheckResult{Name: "Web", Result: model.HealthFailure, Message: "first\nsecond"}},
		{1, "", model.HealthCheckResult{Name: "Web", Result: model.HealthFailure, Message: "health check exited with code 1"}},
		{exitStarting, "", model.HealthCheckResult{Name: "Web", Result: model.HealthStarting}},
		{exitLoading, "syncing 40%\n", model.HealthCheckResult{Name: "Web", Result: model.HealthLoading, Message: "syncing 40%"}},
		{exitDisabled, "off in config\n", model.HealthCheckResult{Name: "Web", Result: model.HealthDisabled, Message: "off in config"}},
		{container.ProbeTimedOut, "Health check exceeded timeout (30s)", model.HealthCheckResult{Name: "Web", Result: model.HealthFailure,
			Message: timedOut + " (no answer within 30s; the check was stopped)"}},
	} {
		got := probeResult(hc, &container.ProbeResult{ExitCode: tc.code, Output: tc.output, Start: start, End: start.Add(30*time.Second + 2*time.Millisecond)})
		if got != tc.want {
			t.Errorf("exit %d %q: %+v, want %+v", tc.code, tc.output, got, tc.want)
		}
	}
}
