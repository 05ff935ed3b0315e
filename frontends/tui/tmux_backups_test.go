package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// TestBackupsInTmux drives the Backups view in a real terminal against a
// real startd, engine and restic: a target is added, a backup is run from
// the console, its snapshots are listed, a package's data is restored from
// one, and the target is forgotten. Every step waits for the box's durable
// state (the target list, lastBackup, the bytes in the volume).
func TestBackupsInTmux(t *testing.T) {
	requireTools(t, "tmux", "restic")
	eng := testpkg.Engine(t)
	id, file, _ := testPackage(t, eng)
	bins := t.TempDir()
	tui := goBuild(t, bins, "start-tui", ".")
	startdBin := goBuild(t, bins, "startd", "../daemon")
	data := t.TempDir()
	d := testdaemon.RunStartd(t, startdBin, data)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+d.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(ctx, "setup.execute", model.SetupParams{Password: "correct horse", Name: "Backup Box"}, nil); err != nil {
		t.Fatal(err)
	}
	installFile(t, ctx, c, file)
	state := filepath.Join(data, "volumes", id, "main", "state.txt")
	if err := os.WriteFile(state, []byte("backed up\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	s := startTUI(t, "backups", tui, d.Sock, 100, 30)
	s.waitScreen("Backup Box", "● live")
	s.keys("5")
	s.waitScreen("[5 Backups]", "No backup targets yet", "last backup of the box: never")

	// a: the form adds a target.
	repo := filepath.Join(t.TempDir(), "repo")
	s.keys("a")
	s.waitScreen("Add a backup target")
	s.keys("-l", "usb disk")
	s.keys("Enter")
	s.keys("-l", repo)
	s.keys("Enter")
	s.waitScreen("usb disk", "local", "never backed up", repo)
	var targets []model.BackupTarget
	if err := c.Call(ctx, "backup.target.list", model.Empty{}, &targets); err != nil || len(targets) != 1 || targets[0].URL != repo {
		t.Fatalf("after adding in the console: %+v %v", targets, err)
	}

	// b: a backup with the password typed in the console.
	s.keys("b")
	s.waitScreen("Back up to usb disk", "Backup password")
	s.keys("-l", "tmux backup pw")
	s.keys("Enter")
	waitState(t, ctx, c, "the backup to end", func(si model.ServerInfo) bool {
		return si.LastBackup != nil && len(si.StatusInfo.BackupProgress) == 0
	})
	scr := s.waitScreenFor(time.Minute, "usb disk         local  last ")
	if strings.Contains(scr, "last backup of the box: never") {
		t.Fatalf("the box's last backup is not shown:\n%s", scr)
	}

	// enter: the snapshots, newest first, as backup.target.info lists them.
	var info model.BackupTargetInfo
	if err := c.Call(ctx, "backup.target.info", model.BackupTargetPasswordParams{TargetID: targets[0].ID, Password: "tmux backup pw"}, &info); err != nil {
		t.Fatal(err)
	}
	s.keys("Enter")
	s.waitScreen("Snapshots in usb disk", "Backup password")
	s.keys("-l", "tmux backup pw")
	s.keys("Enter")
	s.waitScreen("Snapshots in usb disk (2)", "Test Package 0.1.0", "the box")

	// The data changes; r on the package's snapshot puts it back.
	if err := os.WriteFile(state, []byte("changed since\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	row := -1
	for i, sn := range info.Snapshots {
		if sn.Kind == "package" && sn.PackageID == id {
			row = i
		}
	}
	if row < 0 {
		t.Fatalf("no snapshot of %s in %+v", id, info.Snapshots)
	}
	for range row {
		s.keys("j")
	}
	s.keys("r")
	s.waitScreen("Restore Test Package?", "Its current data is")
	s.keys("y")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, _ := os.ReadFile(state)
		if string(b) == "backed up\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restore from the console did not put the data back (%q):\n%s", b, s.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The restore call has returned once the console drops its line.
	deadline = time.Now().Add(time.Minute)
	for strings.Contains(s.screen(), "Restoring Test Package") {
		if time.Now().After(deadline) {
			t.Fatalf("the console still shows the restore running:\n%s", s.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// esc back to the targets; x forgets the target.
	// An x sent right after Escape can arrive as alt-x, so x is pressed
	// again until the question stays on the screen.
	s.keys("Escape")
	deadline = time.Now().Add(time.Minute)
	for !strings.Contains(s.screen(), "Forget the target usb disk?") {
		if time.Now().After(deadline) {
			t.Fatalf("x never asked to forget the target:\n%s", s.screen())
		}
		s.keys("x")
		time.Sleep(500 * time.Millisecond)
	}
	s.waitScreen("Forget the target usb disk?")
	s.keys("y")
	s.waitScreen("No backup targets yet")
	if err := c.Call(ctx, "backup.target.list", model.Empty{}, &targets); err != nil || len(targets) != 0 {
		t.Fatalf("after forgetting in the console: %+v %v", targets, err)
	}
	if err := c.Call(ctx, "package.uninstall", model.UninstallParams{ID: id}, nil); err != nil {
		t.Fatal(err)
	}
}

// waitState polls serverInfo through the RPC until cond holds.
func waitState(t *testing.T, ctx context.Context, c *rpc.Client, what string, cond func(model.ServerInfo) bool) {
	t.Helper()
	for {
		var si model.ServerInfo
		var d model.Dump
		if err := c.Call(ctx, "db.dump", model.DumpParams{Pointer: "/public/serverInfo"}, &d); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(d.Value, &si); err != nil {
			t.Fatal(err)
		}
		if cond(si) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
