package main

import (
	"context"
	"fmt"
	"github.com/startos-go/startos/internal/testdaemon"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/rpc"
)

type proc = testdaemon.Process

func buildStartd(t *testing.T) string { return testdaemon.BuildStartd(t) }

func startStartd(t *testing.T, bin, dataDir string) *proc {
	return testdaemon.RunStartd(t, bin, dataDir)
}

func TestStartdServesLocksAndStops(t *testing.T) {
	bin := buildStartd(t)
	data := t.TempDir()
	p := startStartd(t, bin, data)

	ctx := context.Background()
	for _, target := range []string{p.HTTP, "unix://" + filepath.Join(data, "run", "rpc.sock")} {
		c, err := rpc.Dial(ctx, target, rpc.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := c.Call(ctx, "echo", map[string]string{"message": "up"}, &got); err != nil || got != "up" {
			t.Fatalf("%s: echo = %q, %v", target, got, err)
		}
		c.Close()
	}

	// A second daemon on the same data dir refuses and names the holder.
	out, err := exec.Command(bin, "--data-dir", data, "--run-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--config", "", "--lan-listen", "127.0.0.1:0", "--lan-http-listen", "").CombinedOutput()
	if err == nil {
		t.Fatal("second startd on the same data dir started")
	}
	if want := fmt.Sprintf("pid %d", p.Cmd.Process.Pid); !strings.Contains(string(out), want) {
		t.Fatalf("second startd said %q, want it to name %q", out, want)
	}

	// SIGTERM: exit 0 and remove the socket.
	p.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("startd exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("startd did not stop within 15 s of SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(data, "run", "rpc.sock")); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

// TestConfigPrecedence: flag > environment > config file > default.
func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "startd.yaml")
	os.WriteFile(file, []byte("data-dir: /from/file\nrun-dir: /run/file\nlisten: 10.0.0.1:1\nallowed-hosts: [box.example]\n"), 0o600)
	local := filepath.Join(t.TempDir(), "local.yaml")
	os.WriteFile(local, []byte("allow-local-downloads: true\n"), 0o600)
	alertsFile := filepath.Join(t.TempDir(), "alerts.yaml")
	os.WriteFile(alertsFile, []byte("alerts:\n  crash-loop-restarts: 3\n  crash-loop-window: 5m\n  health-failing-for: 90s\n  disk-full-percent: 95\n"), 0o600)
	badAlerts := filepath.Join(t.TempDir(), "bad-alerts.yaml")
	os.WriteFile(badAlerts, []byte("alerts:\n  health-failing-for: soon\n"), 0o600)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("data-dir: /x\ncolour: red\n"), 0o600)
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want config
		err  string
	}{
		{"defaults", nil, nil, defaults, ""},
		{"local downloads from the file", []string{"--config", local}, nil, withLocal(defaults, true), ""},
		{"local downloads from the environment", nil, map[string]string{"STARTD_ALLOW_LOCAL_DOWNLOADS": "true"}, withLocal(defaults, true), ""},
		{"local downloads flag over file", []string{"--config", local, "--allow-local-downloads=false"}, nil, defaults, ""},
		{"local downloads flag", []string{"--allow-local-downloads"}, nil, withLocal(defaults, true), ""},
		{"file", []string{"--config", file}, nil, withAdminDefaults(config{DataDir: "/from/file", RunDir: "/run/file", Listen: "10.0.0.1:1", LogLevel: "info", AllowedHosts: []string{"box.example"}}), ""},
		{"env over file", []string{"--config", file}, map[string]string{"STARTD_DATA_DIR": "/from/env"},
			withAdminDefaults(config{DataDir: "/from/env", RunDir: "/run/file", Listen: "10.0.0.1:1", LogLevel: "info", AllowedHosts: []string{"box.example"}}), ""},
		{"flag over env", []string{"--config", file, "--data-dir", "/from/flag", "--allowed-host", "a.example", "--allowed-host", ".b.example"}, map[string]string{"STARTD_DATA_DIR": "/from/env"},
			withAdminDefaults(config{DataDir: "/from/flag", RunDir: "/run/file", Listen: "10.0.0.1:1", LogLevel: "info", AllowedHosts: []string{"a.example", ".b.example"}}), ""},
		{"admin settings from flag and environment", []string{"--authorized-keys", "/k/authorized_keys", "--restart-command", "/bin/echo r"}, map[string]string{"STARTD_SHUTDOWN_COMMAND": "/bin/echo s"},
			withAdmin(defaults, "/k/authorized_keys", "/bin/echo r", "/bin/echo s"), ""},
		{"missing explicit file", []string{"--config", "/nonexistent.yaml"}, nil, config{}, "nonexistent.yaml"},
		{"unknown key", []string{"--config", bad}, nil, config{}, "colour"},
		{"alerts from the file", []string{"--config", alertsFile}, nil, withAlerts(defaults, alertsConfig{CrashLoopRestarts: 3, CrashLoopWindow: "5m", HealthFailingFor: "90s", DiskFullPercent: 95}), ""},
		{"bad alert duration", []string{"--config", badAlerts}, nil, config{}, "alerts.health-failing-for"},
		{"bad allowed host", []string{"--allowed-host", "*.example"}, nil, config{}, `allowed-host "*.example"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var got config
			var gotErr error
			app := &cli.App{Flags: copyFlags(pristineFlags), Action: func(cCtx *cli.Context) error {
				got, gotErr = loadConfig(cCtx)
				return nil
			}}
			args := c.args
			if !strings.Contains(strings.Join(args, " "), "--config") {
				args = append(args, "--config", "")
			}
			if err := app.Run(append([]string{"startd"}, args...)); err != nil {
				t.Fatal(err)
			}
			if c.err != "" {
				if gotErr == nil || !strings.Contains(gotErr.Error(), c.err) {
					t.Fatalf("err = %v, want it to mention %q", gotErr, c.err)
				}
				return
			}
			if gotErr != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v, %v; want %+v", got, gotErr, c.want)
			}
		})
	}
}

func withAlerts(c config, a alertsConfig) config {
	c.Alerts = a
	return c
}

func withLocal(c config, allow bool) config {
	c.AllowLocalDownloads = allow
	return c
}

// pristineFlags are configFlags before any run: urfave/cli flags keep the
// values and "set" marks of the last run, so each case gets fresh copies.
var pristineFlags = copyFlags(configFlags)

func copyFlags(flags []cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, f := range flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			c := *f
			out = append(out, &c)
		case *cli.BoolFlag:
			c := *f
			out = append(out, &c)
		case *cli.StringSliceFlag:
			c := *f
			c.Value = nil // the parsed slice lives here; each run starts empty
			out = append(out, &c)
		default:
			panic(fmt.Sprintf("copyFlags: %T", f))
		}
	}
	return out
}

// TestLANConfig: the LAN addresses default to :443 and :80; the file may
// turn one off with ""; a flag wins over the file.
func TestLANConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "startd.yaml")
	os.WriteFile(file, []byte("lan-listen: 10.0.0.1:8443\nlan-http-listen: \"\"\n"), 0o600)
	for _, c := range []struct {
		name             string
		args             []string
		wantTLS, wantRaw string
	}{
		{"defaults", []string{"--config", ""}, defaultLanListen, defaultLanHTTPListen},
		{"file turns plain off", []string{"--config", file}, "10.0.0.1:8443", ""},
		{"flag over file", []string{"--config", file, "--lan-listen", "127.0.0.1:0", "--lan-http-listen", "127.0.0.1:1"}, "127.0.0.1:0", "127.0.0.1:1"},
	} {
		var tlsAddr, plainAddr string
		var err error
		app := &cli.App{Flags: configFlags, Action: func(cCtx *cli.Context) error {
			var cfg config
			cfg, err = loadConfig(cCtx)
			tlsAddr, plainAddr = cfg.lanAddrs()
			return nil
		}}
		if rerr := app.Run(append([]string{"startd"}, c.args...)); rerr != nil || err != nil {
			t.Fatal(rerr, err)
		}
		if tlsAddr != c.wantTLS || plainAddr != c.wantRaw {
			t.Errorf("%s: %q %q, want %q %q", c.name, tlsAddr, plainAddr, c.wantTLS, c.wantRaw)
		}
	}
}

// withAdminDefaults fills the administration settings a test's literal
// leaves out with their defaults.
func withAdminDefaults(c config) config {
	return withAdmin(c, defaults.AuthorizedKeys, defaults.RestartCommand, defaults.ShutdownCommand)
}

func withAdmin(c config, keys, restart, shutdown string) config {
	c.AuthorizedKeys, c.RestartCommand, c.ShutdownCommand = keys, restart, shutdown
	return c
}
