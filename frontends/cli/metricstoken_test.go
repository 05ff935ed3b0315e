package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/startos/model"
)

// TestMetricsTokenThroughCLI: a token made by start-cli lets a scraper read
// /metrics until start-cli revokes it.
func TestMetricsTokenThroughCLI(t *testing.T) {
	d := testdaemon.Start(t, "")
	jarPath = filepath.Join(t.TempDir(), "cookies.json")
	authCookie, stdinFile = "", nil
	get := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, d.HTTP+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	code, out, errs := cmd(t, "--socket", d.Sock, "--format", "json", "server", "metrics-token", "create", "grafana box")
	if code != 0 {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	var created model.MetricsTokenCreated
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Token == "" {
		t.Fatalf("create answered %q: %v", out, err)
	}
	if got := get(created.Token); got != http.StatusOK {
		t.Fatalf("scrape with the token: %d", got)
	}
	if code, out, errs := cmd(t, "--socket", d.Sock, "server", "metrics-token", "list"); code != 0 || !strings.Contains(out, "grafana box") || strings.Contains(out, created.Token) {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	if code, out, errs := cmd(t, "--socket", d.Sock, "server", "metrics-token", "revoke", created.ID); code != 0 {
		t.Fatalf("revoke: %d %q %q", code, out, errs)
	}
	if got := get(created.Token); got != http.StatusUnauthorized {
		t.Fatalf("scrape with the revoked token: %d", got)
	}
}
