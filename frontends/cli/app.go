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
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/rpc"
)

// defaultSocket is where startd puts its socket on a box.
const defaultSocket = "/run/startos/rpc.sock"

// localSockets are where start-cli looks for a daemon when told nothing:
// the box's (the systemd unit's run dir), then `just run`'s in the checkout.
var localSockets = []string{defaultSocket, ".data/run/rpc.sock"}

// defaultTimeout bounds one call; streams are kept honest by keep-alive pings.
const defaultTimeout = 30 * time.Second

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
	quiet          bool          // -q: ids only
	logTimes       bool          // logs -t
	logSince       time.Time     // logs --since
	timeout        time.Duration // per call; 0 for none
	notFound       string        // an unknown command word, from CommandNotFound
	completing     string        // a flag whose values the shell asks for
	client         *rpc.Client   // dialled on first use
}

// where names the daemon for messages.
func (s *session) where() string { return strings.TrimPrefix(s.target, "unix://") }

func (s *session) connect(ctx context.Context, stream bool) (*rpc.Client, error) {
	target := s.target
	if stream {
		// Subscriptions need a connection: HTTP hosts switch to WebSocket.
		target = strings.Replace(strings.Replace(target, "https://", "wss://", 1), "http://", "ws://", 1)
	}
	if s.client != nil && !stream {
		return s.client, nil
	}
	opts := rpc.ClientOptions{HTTPClient: &http.Client{Jar: s.jar}, LocalCookie: s.localCookie}
	if stream {
		opts.KeepAlive = s.timeout
	}
	c, err := rpc.Dial(ctx, target, opts)
	if err != nil {
		return nil, &unreachableError{where: s.where(), err: err}
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
	app, _ := newAppSession(stdin, stdout, stderr)
	return app
}

func newAppSession(stdin *os.File, stdout, stderr io.Writer) (*cli.App, *session) {
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
			&cli.StringFlag{Name: "socket", Aliases: []string{"s"}, Usage: "daemon unix socket (default: " + strings.Join(localSockets, " or ") + ", the first that exists)", EnvVars: []string{"STARTOS_SOCKET"}},
			&cli.StringFlag{Name: "format", Aliases: []string{"o", "f"}, Usage: "output: table, json (streams: one JSON object a line) or yaml", EnvVars: []string{"STARTOS_FORMAT"}},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only ids (lists) or nothing (actions)"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up on a call after this long (0: never); streams end when the daemon stops answering pings", Value: defaultTimeout, EnvVars: []string{"STARTOS_TIMEOUT"}},
			&cli.StringFlag{Name: "config", Usage: "settings file", Value: defaultSettingsPath(), EnvVars: []string{"STARTOS_CONFIG"}},
			&cli.StringFlag{Name: "cookie-jar", Usage: "where sessions are kept", Value: defaultPath("cookies.json"), EnvVars: []string{"STARTOS_COOKIE_JAR"}},
			&cli.StringFlag{Name: "auth-cookie", Usage: "the daemon's local auth cookie, used for HTTP on this machine", Value: "/run/startos/rpc.authcookie", EnvVars: []string{"STARTOS_AUTH_COOKIE"}},
		},
		Before: func(cCtx *cli.Context) error { return s.configure(cCtx) },
		After:  func(*cli.Context) error { s.close(); return nil },
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError(fmt.Sprintf("%v\nhint: start-cli --help", err))
		},
		CommandNotFound: func(_ *cli.Context, word string) { s.notFound = word },
	}
	app.Commands = append(methodCommands(s), callCommand(s), completionCommand(app))
	quietUsage(app.Commands, "")
	withValueCompletion(app, s)
	return app, s
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
		s.target = "http://" + rpc.DefaultAddr
		for _, sock := range localSockets {
			if _, err := os.Stat(sock); err == nil {
				s.target = "unix://" + sock
				break
			}
		}
	}
	s.timeout = cCtx.Duration("timeout")
	s.quiet = cCtx.Bool("quiet")
	s.jar = &rpc.FileJar{Path: cCtx.String("cookie-jar"), OnError: func(err error) {
		fmt.Fprintln(s.stderr, "warning: cookie jar not saved:", err)
	}}
	if !strings.HasPrefix(s.target, "unix://") {
		cookies := []string{cCtx.String("auth-cookie")}
		if !cCtx.IsSet("auth-cookie") {
			cookies = append(cookies, ".data/run/rpc.authcookie") // just run's
		}
		for _, f := range cookies {
			if s.localCookie = rpc.ReadLocalCookie(s.target, f); s.localCookie != "" {
				break
			}
		}
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
		return usageError(fmt.Sprintf("--format %q: want table, json or yaml", s.format))
	}
	return nil
}
