package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// scrape GETs /metrics with the given Authorization and Cookie headers and
// returns the status and the parsed families (when 200).
func scrape(t *testing.T, base, authz, cookie string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+MetricsPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q", ct)
	}
	p := expfmt.NewTextParser(pmodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return resp.StatusCode, fams
}

// sample finds the value of the metric of family name whose labels include
// want; ok is false when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestPrometheusMetrics: /metrics refuses a scraper without credentials or
// with a wrong or revoked token, and with a token made by
// server.metrics-token.create serves an exposition the Prometheus text
// parser reads, holding box, package, RPC and watchdog metrics.
func TestPrometheusMetrics(t *testing.T) {
	b := newBackend(t)
	ts := startServer(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+ts.sock, ts.opts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	for _, authz := range []string{"", "Bearer ", "Bearer startos-metrics-wrong", "Basic dXNlcjpwYXNz"} {
		if code, _ := scrape(t, ts.httpURL, authz, ""); code != http.StatusUnauthorized {
			t.Fatalf("Authorization %q: status %d, want 401", authz, code)
		}
	}
	created, err := rpc.Call[model.MetricsTokenCreated](ctx, c, "server.metrics-token.create", model.MetricsTokenCreateParams{Name: "prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Token, "startos-metrics-") || created.ID == "" {
		t.Fatalf("created %+v", created)
	}
	list, err := rpc.Call[[]model.MetricsToken](ctx, c, "server.metrics-token.list", nil)
	if err != nil || len(list) != 1 || list[0].ID != created.ID || list[0].Name != "prometheus" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	// The secret stays out of the public document and of the list.
	dump, err := rpc.Call[model.Dump](ctx, c, "db.dump", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(dump.Value), created.Token) {
		t.Fatal("the token is in the public document")
	}

	// A package in the document, with a failing health check.
	if _, err := b.DB().Mutate(ctx, func(d *model.Document) error {
		d.Public.PackageData["promapp"] = model.PackageDataEntry{
			StateInfo: model.StateInfo{State: model.PackageInstalled},
			StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: model.DesiredRunning},
				Health: map[string]model.HealthCheckResult{"web": {Name: "Web", Result: model.HealthFailure, Message: "down"}}},
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := rpc.Call[string](ctx, c, "echo", model.EchoParams{Message: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	var re *rpc.Error
	if err := c.Call(ctx, "no.such.method-from-a-stranger", nil, nil); !errors.As(err, &re) {
		t.Fatalf("unknown method: %v", err)
	}
	// The box sample arrives about a second after start.
	for {
		if _, err := rpc.Call[model.Metrics](ctx, c, "server.metrics", nil); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no metrics sample")
		case <-time.After(100 * time.Millisecond):
		}
	}

	code, fams := scrape(t, ts.httpURL, "Bearer "+created.Token, "")
	if code != http.StatusOK {
		t.Fatalf("with the token: status %d", code)
	}
	for _, want := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"startos_rpc_requests_total", map[string]string{"method": "echo", "code": "0"}, 3},
		{"startos_rpc_request_duration_seconds", map[string]string{"method": "echo"}, 3},
		{"startos_rpc_requests_total", map[string]string{"method": "unknown", "code": "-32601"}, 1},
		{"startos_memory_bytes", map[string]string{"kind": "total"}, 1},
		{"startos_disk_bytes", map[string]string{"kind": "capacity"}, 1},
		{"startos_cpu_percent", map[string]string{"mode": "idle"}, 0},
		{"startos_state_revision", nil, 1},
		{"startos_package_info", map[string]string{"package": "promapp", "state": "installed", "desired": "running"}, 1},
		{"startos_package_running", map[string]string{"package": "promapp"}, 0},
		{"startos_package_health_ok", map[string]string{"package": "promapp", "check": "web", "result": "failure"}, 0},
		{"startos_watchdog_probe_last_success_age_seconds", nil, 0},
		{"startos_log_lines_written_total", nil, 0},
		{"go_goroutines", nil, 1},
		{"startos_notifications_dropped_total", map[string]string{"channel": "email"}, 0},
	} {
		v, ok := sample(fams, want.name, want.labels)
		if !ok || v < want.min {
			t.Errorf("%s%v = %v (present %v), want >= %v", want.name, want.labels, v, ok, want.min)
		}
	}
	if v, _ := sample(fams, "startos_package_health_ok", map[string]string{"package": "promapp"}); v != 0 {
		t.Errorf("a failing check reads %v", v)
	}
	var states float64
	for _, st := range []string{"ok", "degraded", "stalled"} {
		v, ok := sample(fams, "startos_watchdog_state", map[string]string{"state": st})
		if !ok {
			t.Errorf("startos_watchdog_state{state=%q} missing", st)
		}
		states += v
	}
	if states != 1 {
		t.Errorf("watchdog states sum to %v, want exactly one set", states)
	}
	for _, m := range fams["startos_rpc_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if strings.Contains(l.GetValue(), "stranger") {
				t.Errorf("a stranger's method name became a label: %s", l.GetValue())
			}
		}
	}

	// The local cookie (the owner's own machine) needs no token.
	if code, _ := scrape(t, ts.httpURL, "", rpc.LocalCookie+"="+ts.cookie); code != http.StatusOK {
		t.Errorf("with the local cookie: status %d", code)
	}
	if _, err := rpc.Call[model.Empty](ctx, c, "server.metrics-token.revoke", model.MetricsTokenRevokeParams{ID: created.ID}); err != nil {
		t.Fatal(err)
	}
	if code, _ := scrape(t, ts.httpURL, "Bearer "+created.Token, ""); code != http.StatusUnauthorized {
		t.Errorf("revoked token: status %d, want 401", code)
	}
	if err := c.Call(ctx, "server.metrics-token.revoke", model.MetricsTokenRevokeParams{ID: created.ID}, nil); !errors.As(err, &re) || re.Code != rpc.CodeNotFound {
		t.Errorf("revoking twice: %v", err)
	}
}
