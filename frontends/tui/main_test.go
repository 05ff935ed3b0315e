package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/startos-go/startos/internal/testdaemon"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"
	"github.com/urfave/cli/v2"
	"go.uber.org/goleak"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/frontends/tui/ui"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/model"
)

func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii)
	// teatest waits for SIGINT in a goroutine that outlives every program.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/charmbracelet/x/exp/teatest.NewTestModel.func2"))
}

// daemon is the real library behind a real RPC server on a temp socket.
type daemon struct {
	sock string
	lib  *startos.Server
	rpc  *rpc.Client
}

func startDaemon(t *testing.T) daemon {
	t.Helper()
	d := testdaemon.Start(t, "")
	c, err := rpc.Dial(context.Background(), "unix://"+d.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() }) // before the daemon stops
	return daemon{sock: d.Sock, lib: d.Lib, rpc: c}
}

func waitScreen(t *testing.T, tm *teatest.TestModel, wants ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, w := range wants {
			if !bytes.Contains(b, []byte(w)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
}

// TestConsoleFollowsAndSteersARealDaemon: changes made through the RPC
// appear on screen without polling, and a key pressed in the console
// changes the box.
func TestConsoleFollowsAndSteersARealDaemon(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	box, err := live.Open(live.Options{Target: "unix://" + d.sock, Backoff: func(int) time.Duration { return 50 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	m := ui.New(ui.Options{Box: box, Location: time.UTC})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40))
	waitScreen(t, tm, "● live", "1 Dashboard")

	// setup.execute names the box: the header follows the document.
	if err := d.rpc.Call(ctx, "setup.execute", model.SetupParams{Password: "correct horse", Name: "Kitchen Box"}, nil); err != nil {
		t.Fatal(err)
	}
	waitScreen(t, tm, "Kitchen Box")

	// A notification raised elsewhere shows in the tab's count.
	if err := d.rpc.Call(ctx, "notification.create", model.NotificationInput{Level: model.NotificationWarning, Title: "Disk almost full", Message: "91%"}, nil); err != nil {
		t.Fatal(err)
	}
	waitScreen(t, tm, "4 Notifications (1)")

	// A package installing, written into the state document by the library:
	// the services list shows it with its progress.
	total := uint64(100)
	if _, err := d.lib.DB().Mutate(ctx, func(doc *model.Document) error {
		doc.Public.PackageData["hello-world"] = model.PackageDataEntry{
			StateInfo: model.StateInfo{State: model.PackageInstalling, InstallingInfo: &model.InstallingInfo{
				NewManifest: json.RawMessage(`{"id":"hello-world","title":"Hello World","version":"0.3.5.1"}`),
				Progress: model.FullProgress{Overall: model.Progress{Kind: model.ProgressMeasured, Done: 40, Total: &total},
					Phases: []model.NamedProgress{{Name: "Unpacking", Progress: model.Progress{Kind: model.ProgressIndeterminate}}}},
			}},
			StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: model.DesiredStopped}},
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tm.Type("2")
	waitScreen(t, tm, "Hello World", "installing", "40% Unpacking")
	if _, err := d.lib.DB().Mutate(ctx, func(doc *model.Document) error {
		e := doc.Public.PackageData["hello-world"]
		e.StateInfo.InstallingInfo.Progress.Overall.Done = 90
		doc.Public.PackageData["hello-world"] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitScreen(t, tm, "90% Unpacking")

	// Marking the notification seen from the console changes the box.
	tm.Type("4")
	waitScreen(t, tm, "Disk almost full")
	tm.Type("m")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var list []model.Notification
		if err := d.rpc.Call(ctx, "notification.list", model.NotificationListParams{}, &list); err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the notification was not marked seen: %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitScreen(t, tm, "[4 Notifications]") // no count: nothing unread

	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	box.Close()
}

func TestFlagsAndTargets(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"start-tui", "--help"}, strings.NewReader(""), &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "--socket") || !strings.Contains(out.String(), "--host") {
		t.Fatalf("help: %d %q %q", code, out.String(), errb.String())
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--host", "ftp://box"}, `--host "ftp://box": want http://host:port or https://host:port`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--config", "/no/such/settings.yaml"}, "settings:"},
	}
	for _, c := range cases {
		out.Reset()
		errb.Reset()
		code := run(context.Background(), append([]string{"start-tui", "--config", ""}, c.args...), strings.NewReader(""), &out, &errb)
		if c.args[0] == "--config" {
			code = run(context.Background(), append([]string{"start-tui"}, c.args...), strings.NewReader(""), &out, &errb)
		}
		if code == 0 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: code %d stderr %q, want %q", c.args, code, errb.String(), c.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(bad, []byte("host: [1, 2"), 0o600)
	errb.Reset()
	if code := run(context.Background(), []string{"start-tui", "--config", bad}, strings.NewReader(""), &out, &errb); code == 0 || !strings.Contains(errb.String(), "settings "+bad) {
		t.Fatalf("a broken settings file: %d %q", code, errb.String())
	}
}

func TestTargetChoice(t *testing.T) {
	dir := t.TempDir()
	settings := filepath.Join(dir, "config.yaml")
	os.WriteFile(settings, []byte("host: 10.0.0.5:5959\n"), 0o600)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--config", settings}, "http://10.0.0.5:5959"},
		{[]string{"--config", settings, "--socket", "/tmp/x.sock"}, "unix:///tmp/x.sock"},
		{[]string{"--config", settings, "--host", "https://box:443"}, "https://box:443"},
		{[]string{"--config", "", "--host", "box.local:5959"}, "http://box.local:5959"},
	}
	for _, c := range cases {
		got, err := targetOf(c.args)
		if err != nil || got != c.want {
			t.Errorf("%v: %q %v, want %q", c.args, got, err, c.want)
		}
	}
}

// targetOf runs the flag parsing and target choice on args.
func targetOf(args []string) (string, error) {
	var got string
	var err error
	app := &cli.App{Flags: flags(), Action: func(c *cli.Context) error { got, err = target(c); return nil }}
	if e := app.Run(append([]string{"start-tui"}, args...)); e != nil {
		return "", e
	}
	return got, err
}
