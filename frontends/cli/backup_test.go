package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The backup commands reach the real library and restic: a target is added
// and listed without credentials; info and create read the password from
// stdin, never argv; an empty box backs up and a wrong password is code 7.
func TestBackupCommands(t *testing.T) {
	d := startDaemon(t)
	sock := []string{"--socket", d.sock}
	repo := filepath.Join(t.TempDir(), "repo")
	code, out, errs := cmd(t, append(sock, "--format", "json", "backup", "target", "add", "--name", "disk", "--url", repo)...)
	if code != 0 || !strings.Contains(out, `"id"`) {
		t.Fatalf("target add: %d %q %q", code, out, errs)
	}
	id := strings.Split(strings.Split(out, `"id": "`)[1], `"`)[0]
	for _, list := range []string{"list", "ls"} { // ls: the docker habit, on every list
		if code, out, errs := cmd(t, append(sock, "backup", "target", list)...); code != 0 || !strings.Contains(out, repo) {
			t.Fatalf("target %s: %d %q %q", list, code, out, errs)
		}
	}
	// Completion offers the box's target ids: for a --target-id flag's
	// value, and as a target command's first argument.
	for _, args := range [][]string{
		{"backup", "create", "--target-id", "--generate-bash-completion"},
		{"backup", "target", "info", "--generate-bash-completion"},
		{"backup", "target", "remove", "--target-id", "--generate-bash-completion"},
	} {
		if _, out, errs := cmd(t, append(sock, args...)...); strings.TrimSpace(out) != id {
			t.Errorf("%v offered %q (%q), want %s", args, out, errs, id)
		}
	}
	withStdin(t, "a good backup password")
	if code, _, errs := cmd(t, append(sock, "backup", "create", id)...); code != 0 {
		t.Fatalf("backup create: %d %q", code, errs)
	}
	if err := d.lib.Backups().Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	withStdin(t, "a good backup password")
	if code, out, errs := cmd(t, append(sock, "--format", "json", "backup", "target", "info", id)...); code != 0 || !strings.Contains(out, `"kind": "box"`) {
		t.Fatalf("target info: %d %q %q", code, out, errs)
	}
	withStdin(t, "not the password")
	if code, _, errs := cmd(t, append(sock, "backup", "target", "info", id)...); code != 1 || !strings.Contains(errs, "(7)") {
		t.Fatalf("wrong password: %d %q", code, errs)
	}
}
