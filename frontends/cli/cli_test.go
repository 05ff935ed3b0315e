package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/goleak"

	"github.com/startos-go/startos/internal/golden"
	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos"
)

// daemon is a real library behind a real RPC server on a socket and HTTP.
type daemon struct {
	sock   string
	http   string
	lib    *startos.Server
	cookie string // path of the local auth cookie
}

func startDaemon(t *testing.T) daemon {
	t.Helper()
	d := testdaemon.Start(t, "")
	jarPath = filepath.Join(t.TempDir(), "cookies.json")
	authCookie = ""
	stdinFile = nil
	return daemon{sock: d.Sock, http: d.HTTP, lib: d.Lib, cookie: d.Cookie}
}

// Per-test settings for cmd; tests do not run in parallel.
var (
	jarPath    string   // --cookie-jar
	authCookie string   // --auth-cookie; "" sends none
	stdinFile  *os.File // stdin for prompts
)

// cmd runs start-cli with args and returns its exit code, stdout and stderr.
func cmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"start-cli", "--config=", "--cookie-jar=" + jarPath, "--auth-cookie=" + authCookie}, args...)
	code := run(context.Background(), args, stdinFile, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCallsOverSocketAndHTTP(t *testing.T) {
	d := startDaemon(t)
	authCookie = d.cookie // the local administrator over HTTP
	for _, target := range [][]string{{"--socket", d.sock}, {"--host", d.http}} {
		code, out, errs := cmd(t, append(target, "echo", "hello world")...)
		if code != 0 || out != "hello world\n" {
			t.Fatalf("%v echo: code %d out %q err %q", target, code, out, errs)
		}
		code, out, _ = cmd(t, append(target, "--format", "json", "server", "time")...)
		var st struct {
			Now    time.Time `json:"now"`
			Uptime float64   `json:"uptime"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil || time.Since(st.Now) > time.Minute {
			t.Fatalf("%v server time: code %d out %q", target, code, out)
		}
	}
}

func TestFormats(t *testing.T) {
	d := startDaemon(t)
	_, table, _ := cmd(t, "--socket", d.sock, "server", "device-info")
	_, yml, _ := cmd(t, "--socket", d.sock, "--format", "yaml", "server", "device-info")
	if !strings.Contains(table, "arch") || !strings.Contains(table, "x86_64") && !strings.Contains(table, "aarch64") {
		t.Fatalf("table output:\n%s", table)
	}
	if !strings.HasPrefix(yml, "os:\n  version: ") {
		t.Fatalf("yaml output keeps key order and nests:\n%s", yml)
	}
	if code, _, errs := cmd(t, "--socket", d.sock, "--format", "xml", "state"); code == 0 || !strings.Contains(errs, "xml") {
		t.Fatalf("bad format accepted: %d %q", code, errs)
	}
}

func TestErrorsPrintCodeAndExitNonZero(t *testing.T) {
	d := startDaemon(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"call", "echo", `{"message":"x","extra":1}`}, `Invalid Params (-32602): unknown param "extra"`},
		{[]string{"call", "no.such"}, `Method Not Found (-32601)`},
		{[]string{"call", "echo", `{not json`}, "params: not valid JSON"},
		{[]string{"echo"}, `Invalid Params (-32602): missing required param "message"`},
		{[]string{"echo", "a", "b"}, `unexpected argument "b"`},
	}
	for _, c := range cases {
		code, _, errs := cmd(t, append([]string{"--socket", d.sock}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: code %d stderr %q, want it to contain %q", c.args, code, errs, c.want)
		}
	}
	code, _, errs := cmd(t, "--socket", filepath.Join(t.TempDir(), "absent.sock"), "state")
	if code == 0 || !strings.Contains(errs, "absent.sock") {
		t.Errorf("missing socket: code %d %q", code, errs)
	}
}

func TestCallAndFlags(t *testing.T) {
	d := startDaemon(t)
	if code, out, errs := cmd(t, "--socket", d.sock, "call", "echo", `{"message":"via call"}`); code != 0 || out != "via call\n" {
		t.Fatalf("call: %d %q %q", code, out, errs)
	}
	if code, out, errs := cmd(t, "--socket", d.sock, "echo", "--message", "via flag"); code != 0 || out != "via flag\n" {
		t.Fatalf("flag: %d %q %q", code, out, errs)
	}
	if code, out, errs := cmd(t, "--socket", d.sock, "echo", "--params", `{"message":"via params"}`); code != 0 || out != "via params\n" {
		t.Fatalf("--params: %d %q %q", code, out, errs)
	}
}

func TestSettingsFile(t *testing.T) {
	d := startDaemon(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(cfg, []byte("socket: "+d.sock+"\nformat: json\n"), 0o600)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"start-cli", "--config", cfg, "state"}, nil, &out, &errb)
	if code != 0 || strings.TrimSpace(out.String()) != `"running"` {
		t.Fatalf("settings: %d %q %q", code, out.String(), errb.String())
	}
}

// TestEveryMethodHasACommand walks the generated tree.
func TestEveryMethodHasACommand(t *testing.T) {
	app := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{})
	for _, m := range rpc.Table {
		if m.Name == "rpc.unsubscribe" {
			continue
		}
		cmds := app.Commands
		var found *cli.Command
		for _, part := range m.CommandPath() {
			found = nil
			for _, c := range cmds {
				if c.Name == part {
					found = c
				}
			}
			if found == nil {
				t.Fatalf("no command for %s (missing %q)", m.Name, part)
			}
			cmds = found.Subcommands
		}
		if found.Action == nil {
			t.Fatalf("command for %s has no action", m.Name)
		}
	}
}

// Completing a flag's value offers its values, not the command's flags:
// --format's anywhere (a global flag), nothing for a flag the box cannot
// know (a file name, left to the shell); a boolean flag takes none, so
// what follows it is completed as usual.
func TestCompletionOfFlagValues(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--format", "--generate-bash-completion"}, []string{"table", "json", "yaml"}},
		{[]string{"package", "list", "-o", "--generate-bash-completion"}, []string{"table", "json", "yaml"}},
		{[]string{"server", "ca", "-o", "--generate-bash-completion"}, nil},
		{[]string{"package", "--format", "--generate-bash-completion"}, []string{"table", "json", "yaml"}},
	} {
		_, out, errs := cmd(t, c.args...)
		if got := strings.Fields(out); !slices.Equal(got, c.want) {
			t.Errorf("%v offered %q (%q), want %q", c.args, got, errs, c.want)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, errs := cmd(t, "completion", sh)
		if code != 0 || !strings.Contains(out, "start-cli") || len(out) < 100 {
			t.Fatalf("%s: %d %q %q", sh, code, out, errs)
		}
	}
	if code, _, _ := cmd(t, "completion", "tcsh"); code == 0 {
		t.Fatal("unknown shell accepted")
	}
}

// TestHelpGolden keeps the generated help text under review.
func TestHelpGolden(t *testing.T) {
	for name, args := range map[string][]string{
		"help-root":   {"--help"},
		"help-server": {"server", "--help"},
		"help-echo":   {"echo", "--help"},
	} {
		t.Setenv("HOME", "/home/user")
		var buf bytes.Buffer
		run(context.Background(), append([]string{"start-cli"}, args...), nil, &buf, &buf)
		out := buf.String()
		path := filepath.Join("testdata", name+".golden")
		want := golden.Read(t, path, []byte(out))
		if string(want) != out {
			t.Errorf("%s changed:\n%s", name, out)
		}
	}
}

func TestServerLogs(t *testing.T) {
	d := startDaemon(t)
	d.lib.Logger().Info("first marker")
	d.lib.Logger().Info("second marker")
	code, out, errs := cmd(t, "--socket", d.sock, "server", "logs", "-l", "1")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "INFO  startd: second marker") {
		t.Fatalf("logs -l 1: %d %q %q", code, out, errs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var buf syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"start-cli", "--config=", "--auth-cookie=", "--cookie-jar=" + jarPath, "--socket", d.sock, "server", "logs", "-f", "-l", "1"}, nil, &buf, &buf)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "third marker") && time.Now().Before(deadline) {
		d.lib.Logger().Info("third marker")
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 || !strings.Contains(buf.String(), "third marker") {
		t.Fatalf("logs -f: code %d output %q", code, buf.String())
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStateDocumentAndNotificationCommands(t *testing.T) {
	d := startDaemon(t)
	sock := []string{"--socket", d.sock}
	code, out, errs := cmd(t, append(sock, "--format", "json", "db", "dump", "/public/serverInfo/version")...)
	if code != 0 || !strings.Contains(out, `"value": "`+startos.Version+`"`) {
		t.Fatalf("db dump: %d %q %q", code, out, errs)
	}
	if code, _, errs := cmd(t, append(sock, "db", "put-ui", "/theme", `"dark"`)...); code != 0 {
		t.Fatalf("db put-ui: %d %q", code, errs)
	}
	_, out, _ = cmd(t, append(sock, "--format", "json", "db", "dump", "/public/ui")...)
	if !strings.Contains(out, `"theme": "dark"`) {
		t.Fatalf("ui after put-ui: %s", out)
	}
	if code, _, errs := cmd(t, append(sock, "db", "dump", "/private")...); code == 0 || !strings.Contains(errs, "Unauthorized (34)") {
		t.Fatalf("db dump /private: %d %q", code, errs)
	}

	if code, _, errs := cmd(t, append(sock, "notification", "create", "--level", "warning", "--title", "Disk", "--message", "almost full")...); code != 0 {
		t.Fatalf("notification create: %d %q", code, errs)
	}
	if code, _, errs := cmd(t, append(sock, "notification", "create", "--level", "loud", "--title", "x", "--message", "y")...); code == 0 || !strings.Contains(errs, "loud") {
		t.Fatalf("bad level accepted: %d %q", code, errs)
	}
	_, out, _ = cmd(t, append(sock, "notification", "list")...)
	if !strings.Contains(out, "almost full") || !strings.Contains(out, "warning") {
		t.Fatalf("notification list:\n%s", out)
	}
	_, out, _ = cmd(t, append(sock, "db", "dump", "/public/serverInfo/unreadNotificationCount")...)
	if !strings.Contains(out, "value") || !strings.Contains(out, "1") {
		t.Fatalf("unread count: %s", out)
	}
	_, out, _ = cmd(t, append(sock, "--format", "json", "notification", "list")...)
	var notes []struct {
		ID uint32 `json:"id"`
	}
	if json.Unmarshal([]byte(out), &notes) != nil || len(notes) != 1 {
		t.Fatalf("notification list json: %s", out)
	}
	if code, _, errs := cmd(t, append(sock, "notification", "mark-seen", strconv.Itoa(int(notes[0].ID)))...); code != 0 {
		t.Fatalf("mark-seen ID: %d %q", code, errs)
	}
	_, out, _ = cmd(t, append(sock, "--format", "json", "db", "dump", "/public/serverInfo/unreadNotificationCount")...)
	if !strings.Contains(out, `"value": 0`) {
		t.Fatalf("unread count after mark-seen: %s", out)
	}

	// db watch prints the dump, then revisions as they happen.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var buf syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"start-cli", "--config=", "--auth-cookie=", "--cookie-jar=" + jarPath, "--socket", d.sock, "--format", "json", "db", "watch", "/public/ui"}, nil, &buf, &buf)
	}()
	deadline := time.Now().Add(10 * time.Second)
	// The writer is a plain client: urfave/cli's help flag is a package
	// global, so two apps must not run at once.
	writer, err := rpc.Dial(ctx, "unix://"+d.sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	for i := 2; !strings.Contains(buf.String(), `"/watched"`) && time.Now().Before(deadline); i++ {
		writer.Call(ctx, "db.put.ui", map[string]any{"pointer": "/watched", "value": i}, nil)
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 || !strings.Contains(buf.String(), `"/watched"`) {
		t.Fatalf("db watch: %d %q", code, buf.String())
	}
}

// withStdin makes the next cmd read lines from stdin.
func withStdin(t *testing.T, lines ...string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(strings.Join(lines, "\n") + "\n")
	w.Close()
	t.Cleanup(func() { r.Close() })
	stdinFile = r
}

func TestSetupLoginSessionsOverHTTP(t *testing.T) {
	d := startDaemon(t)
	host := []string{"--host", d.http}
	if code, _, errs := cmd(t, append(host, "server", "time")...); code == 0 || !strings.Contains(errs, "Unauthorized (34)") {
		t.Fatalf("without login: %d %q", code, errs)
	}
	withStdin(t, "my secret passphrase")
	if code, out, errs := cmd(t, append(host, "setup", "--password-stdin", "--name", "Box")...); code != 0 || !strings.Contains(out, "setup complete") {
		t.Fatalf("setup: %d %q %q", code, out, errs)
	}
	withStdin(t, "another passphrase")
	if code, _, errs := cmd(t, append(host, "setup", "--password-stdin")...); code == 0 || !strings.Contains(errs, "(53)") {
		t.Fatalf("second setup: %d %q", code, errs)
	}
	withStdin(t, "wrong passphrase")
	if code, _, errs := cmd(t, append(host, "auth", "login", "--password-stdin")...); code == 0 || !strings.Contains(errs, "Incorrect Password (7)") {
		t.Fatalf("wrong password: %d %q", code, errs)
	}
	withStdin(t, "my secret passphrase")
	if code, out, errs := cmd(t, append(host, "auth", "login", "--password-stdin")...); code != 0 || !strings.Contains(out, "logged in") {
		t.Fatalf("login: %d %q %q", code, out, errs)
	}
	st, err := os.Stat(jarPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cookie jar: %v, mode %v", err, st.Mode())
	}
	jar, _ := os.ReadFile(jarPath)
	if strings.Contains(string(jar), "my secret passphrase") || !strings.Contains(string(jar), `"session"`) {
		t.Fatalf("jar content: %s", jar)
	}
	if code, _, errs := cmd(t, append(host, "server", "time")...); code != 0 {
		t.Fatalf("after login: %d %q", code, errs)
	}
	code, out, _ := cmd(t, append(host, "--format", "json", "auth", "session", "list")...)
	var list struct {
		Current  string                     `json:"current"`
		Sessions map[string]json.RawMessage `json:"sessions"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || list.Current == "" || len(list.Sessions) != 1 {
		t.Fatalf("session list: %d %s", code, out)
	}
	withStdin(t, "my secret passphrase", "new secret passphrase")
	if code, out, errs := cmd(t, append(host, "auth", "reset-password", "--password-stdin")...); code != 0 || !strings.Contains(out, "password changed") {
		t.Fatalf("reset-password: %d %q %q", code, out, errs)
	}
	if code, out, errs := cmd(t, append(host, "auth", "logout")...); code != 0 || !strings.Contains(out, "logged out") {
		t.Fatalf("logout: %d %q %q", code, out, errs)
	}
	if code, _, errs := cmd(t, append(host, "server", "time")...); code == 0 || !strings.Contains(errs, "(34)") {
		t.Fatalf("after logout: %d %q", code, errs)
	}
	// On the box, the socket needs no login.
	if code, out, _ := cmd(t, "--socket", d.sock, "auth", "login"); code != 0 || !strings.Contains(out, "no login needed") {
		t.Fatalf("login on the socket: %d %q", code, out)
	}
	withStdin(t, "new secret passphrase")
	cmd(t, append(host, "auth", "login", "--password-stdin")...)
	code, out, _ = cmd(t, "--socket", d.sock, "--format", "json", "auth", "session", "list")
	list.Sessions = nil // Unmarshal merges into an existing map
	json.Unmarshal([]byte(out), &list)
	if code != 0 || len(list.Sessions) != 1 {
		t.Fatalf("sessions after re-login: %s", out)
	}
	var id string
	for k := range list.Sessions {
		id = k
	}
	if code, _, errs := cmd(t, "--socket", d.sock, "auth", "session", "kill", id); code != 0 {
		t.Fatalf("kill: %d %q", code, errs)
	}
	if code, _, _ := cmd(t, append(host, "server", "time")...); code == 0 {
		t.Fatal("killed session still works")
	}
}

func TestWatchdogAndDiagnose(t *testing.T) {
	d := startDaemon(t)
	code, out, errs := cmd(t, "--socket", d.sock, "server", "watchdog")
	if code != 0 || !strings.Contains(out, "scheduler") || !strings.Contains(out, "stderr") {
		t.Fatalf("server watchdog: %d %q %q", code, out, errs)
	}
	file := filepath.Join(t.TempDir(), "bundle.tar.gz")
	code, out, errs = cmd(t, "--socket", d.sock, "server", "diagnose", "-o", file)
	if code != 0 || !strings.Contains(out, "wrote "+file) {
		t.Fatalf("server diagnose: %d %q %q", code, out, errs)
	}
	st, err := os.Stat(file)
	if err != nil || st.Size() < 100 || st.Mode().Perm() != 0o600 {
		t.Fatalf("bundle: %v %v", err, st)
	}
	b, _ := os.ReadFile(file)
	if b[0] != 0x1f || b[1] != 0x8b {
		t.Fatal("bundle is not gzip")
	}
}
