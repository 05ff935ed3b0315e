package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/internal/testdaemon"
)

// TestPowerThroughRealStartd runs startd with --restart-command and
// --shutdown-command (via their environment variables) set to a script that
// records its call, and drives them from start-cli.
func TestPowerThroughRealStartd(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	script := filepath.Join(dir, "power.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STARTD_RESTART_COMMAND", script+" reboot")
	t.Setenv("STARTD_SHUTDOWN_COMMAND", script+" poweroff --force")
	p := testdaemon.RunStartd(t, testdaemon.BuildStartd(t), filepath.Join(dir, "data"))
	jarPath = filepath.Join(t.TempDir(), "cookies.json")
	authCookie = ""

	// Without --yes, an answer other than yes stops it.
	no := filepath.Join(dir, "no")
	os.WriteFile(no, []byte("n\n"), 0o600)
	f, err := os.Open(no)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdinFile = f
	code, _, errs := cmd(t, "--socket", p.Sock, "server", "shutdown")
	stdinFile = nil
	if code == 0 || !strings.Contains(errs, "not confirmed") {
		t.Fatalf("unconfirmed shutdown: %d %q", code, errs)
	}
	if _, err := os.Stat(calls); !os.IsNotExist(err) {
		t.Fatalf("command ran without confirmation: %v", err)
	}
	if code, out, errs := cmd(t, "--socket", p.Sock, "server", "shutdown", "--yes"); code != 0 || !strings.Contains(out, "under way") {
		t.Fatalf("shutdown: %d %q %q", code, out, errs)
	}
	b, err := os.ReadFile(calls)
	if err != nil || strings.TrimSpace(string(b)) != "poweroff --force" {
		t.Fatalf("recorded %q, %v", b, err)
	}
	// Only one power action per run: the services are already stopped.
	if code, _, errs := cmd(t, "--socket", p.Sock, "server", "restart", "--yes"); code == 0 || !strings.Contains(errs, "already under way") {
		t.Fatalf("restart after shutdown: %d %q", code, errs)
	}
}
