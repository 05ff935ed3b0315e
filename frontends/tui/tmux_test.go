package main

import (
	"context"
	"fmt"
	"github.com/startos-go/startos/internal/testdaemon"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

func goBuild(t *testing.T, out, name, pkg string) string {
	t.Helper()
	bin := filepath.Join(out, name)
	if b, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return bin
}

// tmuxServer is a private tmux server (its own socket name), killed at the
// end of the test.
type tmuxServer struct {
	t    *testing.T
	name string
}

// requireTools skips t when one of the tools is missing, or fails it where
// the engine is required (just test installs them all).
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("STARTOS_REQUIRE_DOCKER") != "" {
				t.Fatalf("%s is not installed; `just tools` installs it", tool)
			}
			t.Skipf("%s is not installed (just test installs it)", tool)
		}
	}
}

// startTUI runs the start-tui binary against the daemon's socket in a tmux
// server of its own, cols x rows, with a fresh HOME; the server is killed
// when the test ends. $TMUX is unset inside, so the console writes plain
// OSC 52, which tmux (with set-clipboard on) keeps as a paste buffer.
func startTUI(t *testing.T, tag, tui, sock string, cols, rows int) tmuxServer {
	t.Helper()
	s := tmuxServer{t: t, name: fmt.Sprintf("start-tui-%s-%d", tag, os.Getpid())}
	t.Cleanup(func() { s.run("kill-server") })
	command := fmt.Sprintf("env -u TMUX HOME=%s NO_COLOR=1 TERM=xterm-256color %s --config '' --socket %s", t.TempDir(), tui, sock)
	if out, err := s.run("new-session", "-d", "-s", "tui", "-x", fmt.Sprint(cols), "-y", fmt.Sprint(rows), command); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	return s
}

func (s tmuxServer) run(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", s.name, "-f", "/dev/null"}, args...)...).CombinedOutput()
	return string(out), err
}

func (s tmuxServer) keys(keys ...string) {
	s.t.Helper()
	if out, err := s.run(append([]string{"send-keys", "-t", "tui"}, keys...)...); err != nil {
		s.t.Fatalf("send-keys %v: %v %s", keys, err, out)
	}
}

func (s tmuxServer) screen() string {
	out, _ := s.run("capture-pane", "-p", "-t", "tui")
	return out
}

// waitScreen polls the pane until every want is on it.
func (s tmuxServer) waitScreen(wants ...string) string {
	s.t.Helper()
	return s.waitScreenFor(15*time.Second, wants...)
}

func (s tmuxServer) waitScreenFor(d time.Duration, wants ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		scr := s.screen()
		ok := true
		for _, w := range wants {
			ok = ok && strings.Contains(scr, w)
		}
		if ok {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen never showed %q:\n%s", wants, scr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestInTmux runs the start-tui binary in a real terminal (tmux) against a
// real startd binary with a test package installed on the real engine: keys
// go in with send-keys, the screen comes back with capture-pane.
func TestInTmux(t *testing.T) {
	requireTools(t, "tmux")
	eng := testpkg.Engine(t) // skips without an engine, fails in CI
	id, file, _ := testPackage(t, eng)
	bins := t.TempDir()
	tui := goBuild(t, bins, "start-tui", ".")
	startdBin := goBuild(t, bins, "startd", "../daemon")
	data := t.TempDir()
	d := testdaemon.RunStartd(t, startdBin, data)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+d.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(ctx, "setup.execute", model.SetupParams{Password: "correct horse", Name: "Tmux Box"}, nil); err != nil {
		t.Fatal(err)
	}

	s := startTUI(t, "test", tui, d.Sock, 120, 30)
	s.waitScreen("Tmux Box", "● live", "[1 Dashboard]", "Uptime")

	s.keys("2")
	s.waitScreen("[2 Services (0)]", "No services installed")

	// A package installed through the RPC (the file sent over HTTP on the
	// socket): the list shows it running and healthy.
	installFile(t, ctx, c, file)
	s.waitScreenFor(90*time.Second, "[2 Services (1)]", "Test Package", "running", "healthy 1/1")
	// Its page: the health check with its message, the local address.
	s.keys("Enter")
	s.waitScreen("Test Package 0.1.0 ("+id+")", "Status running", "✓ Web interface", "https://main-"+id+"-")
	// t stops it: the box's desired state changes and the screen follows.
	s.keys("t")
	deadline := time.Now().Add(30 * time.Second)
	for desired(t, ctx, c, id) != model.DesiredStopped {
		if time.Now().After(deadline) {
			t.Fatalf("t on the page did not set desired=stopped:\n%s", s.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.waitScreenFor(time.Minute, "Status stopped") // the state, not the status line that expires
	s.keys("Escape")
	s.waitScreen("Test Package", "stopped")

	// Raised through the RPC, shown at once.
	if err := c.Call(ctx, "notification.create", model.NotificationInput{Level: model.NotificationInfo, Title: "Hello from tmux", Message: "a test"}, nil); err != nil {
		t.Fatal(err)
	}
	s.waitScreen("4 Notifications (1)")
	s.keys("4")
	s.waitScreen("Hello from tmux")
	s.keys("m")
	s.waitScreen("[4 Notifications]") // no unread count left
	var list []model.Notification
	if err := c.Call(ctx, "notification.list", model.NotificationListParams{}, &list); err != nil || len(list) != 1 || !list[0].Seen {
		t.Fatalf("after m in the console: %+v %v", list, err)
	}

	s.keys("?")
	s.waitScreen("Keys · esc closes", "install a file")
	s.keys("Escape")
	s.waitScreen("Hello from tmux")

	// The terminal shrinks to 80x24: the screen is redrawn to fit.
	if out, err := s.run("resize-window", "-t", "tui", "-x", "80", "-y", "24"); err != nil {
		t.Fatalf("resize: %v %s", err, out)
	}
	s.keys("1")
	scr := s.waitScreen("[1 Home]") // short tab names at 80 columns
	lines := strings.Split(strings.TrimRight(scr, "\n"), "\n")
	if len(lines) > 24 || !strings.HasSuffix(strings.TrimRight(lines[0], " "), "● live") || len([]rune(lines[0])) > 80 {
		t.Fatalf("not redrawn for 80x24:\n%s", scr)
	}

	// The daemon goes away: the console says so. It comes back: the console
	// reconnects and shows the box again.
	d.Stop(t)
	s.waitScreen("offline", "daemon unreachable")
	testdaemon.RunStartd(t, startdBin, data)
	s.waitScreen("● live", "Tmux Box")
	if strings.Contains(s.screen(), "unreachable") {
		t.Fatalf("still unreachable after reconnecting:\n%s", s.screen())
	}

	s.keys("q")
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, err := s.run("has-session", "-t", "tui"); err != nil {
			break // the pane's process exited, and with it the session
		}
		if time.Now().After(deadline) {
			t.Fatalf("q did not quit:\n%s", s.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
