package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// TestPackageLifecycleThroughCLI: a test package built here goes through
// start-cli and the RPC surface against the real engine: install from a file
// over the socket, running and healthy, its log, an action, stop and start,
// info with the local address, uninstall leaving nothing behind.
func TestPackageLifecycleThroughCLI(t *testing.T) {
	eng := testpkg.Engine(t)
	port := testpkg.FreePort(t)
	pkg := testpkg.Build(t, eng, testpkg.Options{Port: port})
	id := pkg.Manifest.ID
	t.Cleanup(func() { testpkg.Sweep(eng, id) })
	file := filepath.Join(t.TempDir(), id+".s9pk")
	pkg.WriteArchive(t, file)

	d := startDaemon(t)
	sock := []string{"--socket", d.sock}
	if code, out, errs := cmd(t, append(sock, "package", "install", "--quiet", file)...); code != 0 {
		t.Fatalf("install: %d %q %q", code, out, errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+d.sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitStatus := func(want, health string) model.PackageSummary {
		t.Helper()
		for {
			var list []model.PackageSummary
			if err := c.Call(ctx, "package.list", nil, &list); err != nil {
				t.Fatal(err)
			}
			for _, p := range list {
				if p.ID == id && p.Primary == want && (health == "" || p.Health == health) {
					return p
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("package never reached %s/%s: %+v", want, health, list)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitStatus(model.DesiredRunning, model.HealthSuccess)

	code, out, _ := cmd(t, append(sock, "package", "list")...)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "running") || !strings.Contains(out, "success") {
		t.Fatalf("package list:\n%s", out)
	}
	code, out, _ = cmd(t, append(sock, "--format", "json", "package", "info", id)...)
	if code != 0 || !strings.Contains(out, "https://main-"+id+"-") {
		t.Fatalf("package info:\n%s", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, _ = cmd(t, append(sock, "package", "logs", id, "-l", "50")...)
		if code == 0 && strings.Contains(out, testpkg.StartupLine) {
			break
		}
		if time.Now().After(deadline) {
			var page json.RawMessage
			perr := c.Call(ctx, "package.logs", map[string]any{"id": id, "limit": 50}, &page)
			t.Fatalf("package logs lack the start-up line:\n%s\nrpc: %s %v", out, page, perr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	code, out, errs := cmd(t, append(sock, "--format", "json", "package", "action", "run", id, "hello")...)
	var res model.ActionResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Message == "" {
		t.Fatalf("action: %d %q %q", code, out, errs)
	}
	// Completing a package command's ID offers the installed package.
	if _, out, _ := cmd(t, append(sock, "package", "stop", "--generate-bash-completion")...); strings.TrimSpace(out) != id {
		t.Fatalf("completion offered %q, want %s", out, id)
	}
	// An action command offers the package first, then its actions.
	if _, out, _ := cmd(t, append(sock, "package", "action", "run", "--generate-bash-completion")...); strings.TrimSpace(out) != id {
		t.Fatalf("action completion offered %q, want %s", out, id)
	}
	if _, out, _ := cmd(t, append(sock, "package", "action", "run", id, "--generate-bash-completion")...); !slices.Contains(strings.Fields(out), "hello") {
		t.Fatalf("action id completion offered %q, want hello among them", out)
	}
	// Flag values: package ids for --id and the like, a package's actions
	// for --action-id, wherever the flag stands.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"package", "stop", "--id", "--generate-bash-completion"}, id},
		{[]string{"package", "logs", "--id", "--generate-bash-completion"}, id},
		{[]string{"backup", "create", "--package-ids", "--generate-bash-completion"}, id},
		{[]string{"package", "backup", "restore", "--ids", "--generate-bash-completion"}, id},
		{[]string{"package", "action", "run", "--id", id, "--action-id", "--generate-bash-completion"}, "hello"},
		{[]string{"package", "action", "run", id, "--action-id", "--generate-bash-completion"}, "hello"},
	} {
		if _, out, errs := cmd(t, append(sock, c.args...)...); !slices.Contains(strings.Fields(out), c.want) {
			t.Errorf("%v offered %q (%q), want %s among them", c.args, out, errs, c.want)
		}
	}
	// stop --wait says what changed and returns once the package stopped.
	code, out, errs = cmd(t, append(sock, "package", "stop", id, "--wait")...)
	if code != 0 || !strings.Contains(out, id+": running → stopped") || !strings.HasSuffix(out, id+": stopped\n") {
		t.Fatalf("stop --wait: %d %q %q", code, out, errs)
	}
	waitStatus(model.DesiredStopped, "")
	if code, _, errs := cmd(t, append(sock, "package", "action", "run", id, "hello")...); code == 0 || !strings.Contains(errs, "(36)") && !strings.Contains(errs, "running") {
		t.Fatalf("action while stopped: %d %q", code, errs)
	}
	if code, _, errs := cmd(t, append(sock, "package", "start", id)...); code != 0 {
		t.Fatalf("start: %q", errs)
	}
	waitStatus(model.DesiredRunning, model.HealthSuccess)

	// Without a terminal and without --yes, uninstall refuses (after the alert).
	if code, _, errs := cmd(t, append(sock, "package", "rm", id)...); code != 2 || !strings.Contains(errs, "--yes") {
		t.Fatalf("uninstall unasked: %d %q", code, errs)
	}
	if code, out, errs := cmd(t, append(sock, "package", "rm", id, "--yes", "--wait")...); code != 0 || !strings.HasSuffix(out, id+": not installed\n") {
		t.Fatalf("uninstall: %d %q %q", code, out, errs)
	}
	var list []model.PackageSummary
	c.Call(ctx, "package.list", nil, &list)
	if len(list) != 0 {
		t.Fatalf("after uninstall: %+v", list)
	}
	if _, err := eng.Inspect(ctx, pkg.Tag); err == nil {
		t.Fatalf("image %s left after uninstall", pkg.Tag)
	}
}
