package main

import (
	"fmt"
	"time"

	"github.com/startos-go/startos/startos"
)

// alertsConfig is the config file's "alerts" mapping: when trouble becomes
// a notification. Empty keys take the library's defaults (5 crashes in 10m,
// a health check failing for 5m, the data disk over 90%).
type alertsConfig struct {
	CrashLoopRestarts int     `yaml:"crash-loop-restarts"`
	CrashLoopWindow   string  `yaml:"crash-loop-window"`
	HealthFailingFor  string  `yaml:"health-failing-for"`
	DiskFullPercent   float64 `yaml:"disk-full-percent"`
}

// mergeAlerts copies the keys src sets over dst.
func mergeAlerts(dst *alertsConfig, src alertsConfig) {
	if src.CrashLoopRestarts != 0 {
		dst.CrashLoopRestarts = src.CrashLoopRestarts
	}
	if src.CrashLoopWindow != "" {
		dst.CrashLoopWindow = src.CrashLoopWindow
	}
	if src.HealthFailingFor != "" {
		dst.HealthFailingFor = src.HealthFailingFor
	}
	if src.DiskFullPercent != 0 {
		dst.DiskFullPercent = src.DiskFullPercent
	}
}

// alerts checks the settings and turns them into the library's.
func (a alertsConfig) alerts() (startos.Alerts, error) {
	var out startos.Alerts
	if a.CrashLoopRestarts < 0 || a.CrashLoopRestarts > 1000 {
		return out, fmt.Errorf("alerts.crash-loop-restarts %d: want 1 to 1000", a.CrashLoopRestarts)
	}
	out.CrashLoopRestarts = a.CrashLoopRestarts
	for _, d := range []struct {
		key, v string
		dst    *time.Duration
	}{{"crash-loop-window", a.CrashLoopWindow, &out.CrashLoopWindow}, {"health-failing-for", a.HealthFailingFor, &out.HealthFailingFor}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v < time.Second || v > 7*24*time.Hour {
			return out, fmt.Errorf("alerts.%s %q: want a duration from 1s to 168h, such as 10m", d.key, d.v)
		}
		*d.dst = v
	}
	if a.DiskFullPercent < 0 || a.DiskFullPercent > 100 {
		return out, fmt.Errorf("alerts.disk-full-percent %v: want 1 to 100", a.DiskFullPercent)
	}
	out.DiskFullPercent = a.DiskFullPercent
	return out, nil
}
