package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/rpc"
)

// defaultSocket is where startd puts its socket on a box.
const defaultSocket = "/run/startos/rpc.sock"

// settings are read from ~/.startos/config.yaml; flags and environment win.
type settings struct {
	Host   string `yaml:"host"`
	Socket string `yaml:"socket"`
	Format string `yaml:"format"`
}

// session is what a command needs: where to connect and how to print.
type session struct {
	stdin          *os.File
	in             *bufio.Reader // over stdin, made on first use
	stdout, stderr io.Writer
	jar            http.CookieJar
	localCookie    string
	target         string // dial target chosen in Before
	format         string
	client         *rpc.Client // dialled on first use
}

func (s *session) connect(ctx context.Context, stream bool) (*rpc.Client, error) {
	target := s.target
	if stream {
		// Subscriptions need a connection: HTTP hosts switch to WebSocket.
		target = strings.Replace(strings.Replace(target, "https://", "wss://", 1), "http://", "ws://", 1)
	}
	if s.client != nil && !stream {
		return s.client, nil
	}
	c, err := rpc.Dial(ctx, target, rpc.ClientOptions{HTTPClient: &http.Client{Jar: s.jar}, LocalCookie: s.localCookie})
	if err != nil {
		return nil, err
	}
	if !stream {
		s.client = c
	}
	return c, nil
}

func (s *session) close() {
	if s.client != nil {
		s.client.Close()
	}
}

func newApp(stdin *os.File, stdout, stderr io.Writer) *cli.App {
	s := &session{stdin: stdin, stdout: stdout, stderr: stderr}
	app := &cli.App{
		Name:                 "start-cli",
		Usage:                "control a StartOS box",
		Version:              rpc.APIVersion,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		Suggest:              true,
		HideHelpCommand:      true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "host", Aliases: []string{"H"}, Usage: "daemon URL, e.g. http://127.0.0.1:5959", EnvVars: []string{"STARTOS_HOST"}},
			&cli.StringFlag{Name: "socket", Aliases: []string{"s"}, Usage: "daemon unix socket (default " + defaultSocket + " when it exists)", EnvVars: []string{"STARTOS_SOCKET"}},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "output: table, json or yaml", EnvVars: []string{"STARTOS_FORMAT"}},
			&cli.StringFlag{Name: "config", Usage: "settings file", Value: defaultSettingsPath(), EnvVars: []string{"STARTOS_CONFIG"}},
			&cli.StringFlag{Name: "cookie-jar", Usage: "where sessions are kept", Value: defaultPath("cookies.json"), EnvVars: []string{"STARTOS_COOKIE_JAR"}},
			&cli.StringFlag{Name: "auth-cookie", Usage: "the daemon's local auth cookie, used for HTTP on this machine", Value: "/run/startos/rpc.authcookie", EnvVars: []string{"STARTOS_AUTH_COOKIE"}},
		},
		Before: func(cCtx *cli.Context) error { return s.configure(cCtx) },
		After:  func(*cli.Context) error { s.close(); return nil },
	}
	app.Commands = append(methodCommands(s), callCommand(s), completionCommand(app))
	return app
}

func defaultSettingsPath() string { return defaultPath("config.yaml") }

// defaultPath is a file in ~/.startos.
func defaultPath(name string) string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".startos", name)
}

// configure picks the target and format: flags and environment, then the
// settings file, then the local socket if present, else the default address.
func (s *session) configure(cCtx *cli.Context) error {
	var st settings
	if path := cCtx.String("config"); path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := yaml.Unmarshal(b, &st); err != nil {
				return fmt.Errorf("settings %s: %w", path, err)
			}
		case !errors.Is(err, os.ErrNotExist) || cCtx.IsSet("config"):
			return fmt.Errorf("settings: %w", err)
		}
	}
	host, socket := st.Host, st.Socket
	if cCtx.IsSet("host") || cCtx.IsSet("socket") {
		host, socket = cCtx.String("host"), cCtx.String("socket")
	}
	switch {
	case socket != "":
		s.target = "unix://" + socket
	case host != "":
		if !strings.Contains(host, "://") {
			host = "http://" + host
		}
		s.target = host
	default:
		if _, err := os.Stat(defaultSocket); err == nil {
			s.target = "unix://" + defaultSocket
		} else {
			s.target = "http://" + rpc.DefaultAddr
		}
	}
	s.jar = &rpc.FileJar{Path: cCtx.String("cookie-jar"), OnError: func(err error) {
		fmt.Fprintln(s.stderr, "warning: cookie jar not saved:", err)
	}}
	if !strings.HasPrefix(s.target, "unix://") {
		s.localCookie = localCookie(s.target, cCtx.String("auth-cookie"))
	}
	s.format = st.Format
	if cCtx.IsSet("format") {
		s.format = cCtx.String("format")
	}
	if s.format == "" {
		s.format = "table"
	}
	switch s.format {
	case "table", "json", "yaml":
	default:
		return fmt.Errorf("--format %q: want table, json or yaml", s.format)
	}
	return nil
}

// errorLine is how a failure is printed: "code: message" for daemon errors.
func errorLine(err error) string {
	var e *rpc.Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return "error: " + err.Error()
}

// usageError is a command used wrongly; it exits with status 2. (urfave's
// cli.Exit would call os.Exit from inside the library.)
type usageError string

func (e usageError) Error() string { return string(e) }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}
