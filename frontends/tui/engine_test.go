package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/frontends/tui/ui"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/model"
)

// testPackage builds the test package in the engine and packs it as a
// signed .s9pk.
func testPackage(t *testing.T, eng *container.Client) (id, file string, port uint16) {
	t.Helper()
	port = testpkg.FreePort(t)
	pkg := testpkg.Build(t, eng, testpkg.Options{Port: port})
	id = pkg.Manifest.ID
	t.Cleanup(func() { testpkg.Sweep(eng, id) })
	file = filepath.Join(t.TempDir(), id+".s9pk")
	pkg.WriteArchive(t, file)
	return id, file, port
}

// installFile installs a package file through the RPC: package.sideload,
// then the bytes to /rest/rpc/<id> (over the socket, HTTP on the same
// socket); it answers when the install is done.
func installFile(t *testing.T, ctx context.Context, c *rpc.Client, file string) {
	t.Helper()
	var res model.SideloadResult
	if err := c.Call(ctx, "package.sideload", model.Empty{}, &res); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Upload(ctx, res.Upload, f, st.Size()); err != nil {
		t.Fatalf("install %s: %v", file, err)
	}
}

// desired reads statusInfo.desired.main of a package through the RPC.
func desired(t *testing.T, ctx context.Context, c *rpc.Client, id string) string {
	t.Helper()
	var d model.Dump
	if err := c.Call(ctx, "db.dump", model.DumpParams{Pointer: "/public/packageData/" + id + "/statusInfo/desired"}, &d); err != nil {
		t.Fatal(err)
	}
	var ds model.DesiredStatus
	if err := json.Unmarshal(d.Value, &ds); err != nil {
		t.Fatalf("desired status %s: %v", d.Value, err)
	}
	return ds.Main
}

func enter(tm *teatest.TestModel) { tm.Send(tea.KeyMsg{Type: tea.KeyEnter}) }

func waitScreenFor(t *testing.T, tm *teatest.TestModel, d time.Duration, wants ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, w := range wants {
			if !bytes.Contains(b, []byte(w)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(d), teatest.WithCheckInterval(50*time.Millisecond))
}

// TestConsoleDrivesARealPackage: the console against the real library, the
// real RPC server and the real engine. A package file is installed from the
// console (the upload goes over HTTP on the unix socket); its page shows the
// library's view (health check, local address); the console runs its hello
// action and stops it, and the box changes; a start made through the RPC
// appears on screen; the console uninstalls it.
func TestConsoleDrivesARealPackage(t *testing.T) {
	start := time.Now()
	eng := testpkg.Engine(t) // skips without an engine, fails in CI
	id, file, _ := testPackage(t, eng)
	t.Logf("%s: package built", time.Since(start).Round(time.Millisecond))
	d := startDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	box, err := live.Open(live.Options{Target: "unix://" + d.sock, Backoff: func(int) time.Duration { return 50 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	tm := teatest.NewTestModel(t, ui.New(ui.Options{Box: box, Location: time.UTC}), teatest.WithInitialTermSize(120, 40))
	waitScreen(t, tm, "● live", "[1 Dashboard]")

	// Install from a file, from the console.
	tm.Type("2")
	waitScreen(t, tm, "No services installed")
	tm.Type("i")
	waitScreen(t, tm, "Install a package")
	tm.Type(file)
	enter(tm)
	waitScreenFor(t, tm, 2*time.Minute, "Installed Test Package 0.1.0", "Press enter to open it")
	t.Logf("%s: installed from the console", time.Since(start).Round(time.Millisecond))
	enter(tm)
	// The page: the health check as the daemon reports it, and the
	// interface's local address as the library computes it.
	waitScreenFor(t, tm, time.Minute, "Test Package 0.1.0 ("+id+")", "Status running", "✓ Web interface",
		"https://main-"+id+"-", "trust it once per device")

	// Actions sorted by name: Fail, Say hello. Run hello; its result shows.
	tm.Type("j")
	enter(tm)
	waitScreenFor(t, tm, time.Minute, "Hello, ", "secret-", "(c copies)")
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc}) // closes the result
	waitScreen(t, tm, "Actions")

	// t on the page stops it: the box's desired state changes, and the
	// screen follows the actor.
	tm.Type("t")
	deadline := time.Now().Add(30 * time.Second)
	for desired(t, ctx, d.rpc, id) != model.DesiredStopped {
		if time.Now().After(deadline) {
			t.Fatal("t on the page did not set desired=stopped")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitScreenFor(t, tm, time.Minute, "Status stopped")

	// Started through the RPC: the page follows.
	if err := d.rpc.Call(ctx, "package.start", model.PackageIDParams{ID: id}, nil); err != nil {
		t.Fatal(err)
	}
	waitScreenFor(t, tm, time.Minute, "Status running")

	// Uninstall from the console, with confirmation.
	t.Logf("%s: running, action, stop, start", time.Since(start).Round(time.Millisecond))
	tm.Type("u")
	waitScreen(t, tm, "Uninstall Test Package?")
	tm.Type("y")
	// Wait for what stays on screen (the empty list, after the page closed),
	// not for the status line, which the uninstall's reply may race.
	waitScreenFor(t, tm, time.Minute, "No services installed")
	var list []model.PackageSummary
	if err := d.rpc.Call(ctx, "package.list", nil, &list); err != nil || len(list) != 0 {
		t.Fatalf("after uninstall from the console: %+v %v", list, err)
	}

	t.Logf("%s: uninstalled from the console", time.Since(start).Round(time.Millisecond))
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}
