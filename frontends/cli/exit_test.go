package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExitCodes: 0 ok, 1 an error from the box, 2 a usage mistake, 3 the box
// cannot be reached or does not answer, each with one error line.
func TestExitCodes(t *testing.T) {
	d := startDaemon(t)
	sock := []string{"--socket", d.sock}
	deaf := deafSocket(t)
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"ok", append(sock, "echo", "hi"), 0, ""},
		{"box error", append(sock, "package", "info", "nope"), 1, "error: Not Found (6)"},
		{"unknown command", append(sock, "nosuch"), 2, `unknown command "nosuch"`},
		{"unknown subcommand", append(sock, "package", "nosuch"), 2, `unknown command "nosuch"`},
		{"unknown flag", append(sock, "echo", "--bogus", "x"), 2, "flag provided but not defined"},
		{"missing argument", append(sock, "echo"), 2, `missing required param "message"`},
		{"extra argument", append(sock, "echo", "a", "b"), 2, `unexpected argument "b"`},
		{"bad format", append(sock, "-o", "xml", "state"), 2, "xml"},
		{"no daemon", []string{"--socket", filepath.Join(t.TempDir(), "absent.sock"), "state"}, 3, "cannot reach startd at"},
		{"deaf daemon", []string{"--socket", deaf, "--timeout", "500ms", "state"}, 3, "did not answer in time"},
		{"deaf daemon, stream", []string{"--socket", deaf, "--timeout", "500ms", "server", "logs", "-f"}, 3, "did not answer in time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			code, _, errs := cmd(t, c.args...)
			if code != c.code || !strings.Contains(errs, c.want) {
				t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.want)
			}
			if c.code != 0 && !strings.HasPrefix(errs, "error: ") {
				t.Errorf("stderr %q does not start with error:", errs)
			}
			if took := time.Since(start); took > time.Minute {
				t.Errorf("took %s", took)
			}
		})
	}
}

// deafSocket is a daemon that accepts connections and never answers, the
// way startd hung in the story this project starts from.
func deafSocket(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "deaf.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return path
}

// TestGlobalFlagsAnywhere: global flags after the command, -o for --format,
// -q for ids, and a command's own -f (follow) still its own.
func TestGlobalFlagsAnywhere(t *testing.T) {
	d := startDaemon(t)
	code, out, errs := cmd(t, "server", "time", "--socket", d.sock, "-o", "json")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Fatalf("flags after the command: %d %q %q", code, out, errs)
	}
	code, out, errs = cmd(t, "package", "ls", "--socket="+d.sock, "--format", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("package ls: %d %q %q", code, out, errs)
	}
	if got := hoistGlobals(newApp(nil, nil, nil), []string{"start-cli", "server", "logs", "-f", "-o", "json"}); strings.Join(got, " ") != "start-cli -o json server logs -f" {
		t.Fatalf("hoist: %v", got)
	}
}

// TestLogsDockerHabits: --tail N, -t, --since; a followed stream in JSON is
// one compact object a line.
func TestLogsDockerHabits(t *testing.T) {
	d := startDaemon(t)
	d.lib.Logger().Info("habit marker")
	code, out, errs := cmd(t, "server", "logs", "--tail", "1", "--socket", d.sock)
	if code != 0 || strings.TrimSpace(out) != "INFO  startd: habit marker" {
		t.Fatalf("--tail 1: %d %q %q", code, out, errs)
	}
	if _, out, _ := cmd(t, "server", "logs", "-n", "1", "-t", "--socket", d.sock); !strings.HasPrefix(out, time.Now().UTC().Format("2006-01-02")) && !strings.HasPrefix(out, time.Now().Format("2006-01-02")) {
		t.Fatalf("-t: %q", out)
	}
	if _, out, _ := cmd(t, "server", "logs", "--since", "1h", "--socket", d.sock); !strings.Contains(out, "habit marker") {
		t.Fatalf("--since 1h: %q", out)
	}
	if _, out, _ := cmd(t, "server", "logs", "--since", time.Now().Add(time.Hour).Format(time.RFC3339), "--socket", d.sock); out != "" {
		t.Fatalf("--since an hour ahead: %q", out)
	}
	if code, _, errs := cmd(t, "server", "logs", "--since", "yesterday-ish", "--socket", d.sock); code != 2 || !strings.Contains(errs, "--since") {
		t.Fatalf("bad --since: %d %q", code, errs)
	}
}

// TestTablesUseHumanUnits: bytes, percentages, durations and metric pairs
// read as people read them; sessions keyed by id become rows.
func TestTablesUseHumanUnits(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"memory":2183168,"memoryLimit":0,"cpu":0.0041}`, "memory       2.1 MiB\nmemoryLimit  -\ncpu          0.0%\n"},
		{`{"now":"2026-01-01T00:00:00Z","uptime":3725.5}`, "now     2026-01-01T00:00:00Z\nuptime  1h2m5s\n"},
		{`{"memory":{"total":{"value":"24105.3","unit":"MiB"},"percentageUsed":{"value":"12.25","unit":"%"}}}`, "memory:           \n  total           23.5 GiB\n  percentageUsed  12.2%\n"},
		{`{"disk":{"used":{"value":"25.5","unit":"GB"}}}`, "disk:   \n  used  23.7 GiB\n"},
		{`{"sessions":{"aaaaaaaaaaaaaaaaaaaaaaaa":{"userAgent":"x"},"bbbbbbbbbbbbbbbbbbbbbbbb":{"userAgent":"y"}}}`, "sessions:                   \n  ID                        USERAGENT\n  aaaaaaaaaaaaaaaaaaaaaaaa  x\n  bbbbbbbbbbbbbbbbbbbbbbbb  y\n"},
	}
	for _, c := range cases {
		var b strings.Builder
		if err := render(&b, "table", []byte(c.in)); err != nil || b.String() != c.want {
			t.Errorf("%s:\n%q\nwant\n%q (%v)", c.in, b.String(), c.want, err)
		}
	}
}
