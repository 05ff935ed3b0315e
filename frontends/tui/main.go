// Command start-tui is the box at a console: what runs, whether it is
// healthy, what it logs and how loaded the box is, live, with the means to
// act on it. It is a client of the RPC surface like start-cli and connects
// the same way.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/aymanbagabas/go-osc52/v2"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/frontends/tui/ui"
	"github.com/startos-go/startos/rpc"
)

// defaultSocket is where startd puts its socket on a box.
const defaultSocket = "/run/startos/rpc.sock"

// localSockets are tried in order when no target is given: the box's (the
// systemd unit's run dir), then `just run`'s in the checkout.
var localSockets = []string{defaultSocket, ".data/run/rpc.sock"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:            "start-tui",
		Usage:           "watch and steer a StartOS box from a terminal",
		Version:         rpc.APIVersion,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Flags:           flags(),
		Action:          func(c *cli.Context) error { return console(c, stdin, stdout) },
	}
	if err := app.RunContext(ctx, args); err != nil {
		fmt.Fprintln(stderr, "start-tui:", err)
		return 1
	}
	return 0
}

func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "host", Aliases: []string{"H"}, Usage: "daemon URL, e.g. http://127.0.0.1:5959", EnvVars: []string{"STARTOS_HOST"}},
		&cli.StringFlag{Name: "socket", Aliases: []string{"s"}, Usage: "daemon unix socket (default: " + strings.Join(localSockets, " or ") + ", the first that exists)", EnvVars: []string{"STARTOS_SOCKET"}},
		&cli.StringFlag{Name: "config", Usage: "settings file (host, socket), shared with start-cli", Value: defaultPath("config.yaml"), EnvVars: []string{"STARTOS_CONFIG"}},
		&cli.StringFlag{Name: "cookie-jar", Usage: "where sessions are kept, shared with start-cli", Value: defaultPath("cookies.json"), EnvVars: []string{"STARTOS_COOKIE_JAR"}},
		&cli.StringFlag{Name: "auth-cookie", Usage: "the daemon's local auth cookie, used for HTTP on this machine", Value: "/run/startos/rpc.authcookie", EnvVars: []string{"STARTOS_AUTH_COOKIE"}},
	}
}

func defaultPath(name string) string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".startos", name)
}

// target picks where to connect as start-cli does: flags and environment,
// then the settings file, then the local socket if present, else the
// default address.
func target(c *cli.Context) (string, error) {
	var st struct {
		Host   string `yaml:"host"`
		Socket string `yaml:"socket"`
		Format string `yaml:"format"`
	}
	if path := c.String("config"); path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := yaml.Unmarshal(b, &st); err != nil {
				return "", fmt.Errorf("settings %s: %w", path, err)
			}
		case !errors.Is(err, os.ErrNotExist) || c.IsSet("config"):
			return "", fmt.Errorf("settings: %w", err)
		}
	}
	host, socket := st.Host, st.Socket
	if c.IsSet("host") || c.IsSet("socket") {
		host, socket = c.String("host"), c.String("socket")
	}
	switch {
	case socket != "":
		return "unix://" + socket, nil
	case host != "":
		if !strings.Contains(host, "://") {
			host = "http://" + host
		}
		if !strings.HasPrefix(host, "http://") && !strings.HasPrefix(host, "https://") {
			return "", fmt.Errorf("--host %q: want http://host:port or https://host:port", host)
		}
		return host, nil
	}
	for _, sock := range localSockets {
		if _, err := os.Stat(sock); err == nil {
			return "unix://" + sock, nil
		}
	}
	return "http://" + rpc.DefaultAddr, nil
}

func console(c *cli.Context, stdin io.Reader, stdout io.Writer) error {
	if c.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", c.Args().First())
	}
	tgt, err := target(c)
	if err != nil {
		return err
	}
	jar := &live.FileJar{Path: c.String("cookie-jar")}
	box, err := live.Open(live.Options{
		Target:      tgt,
		HTTPClient:  &http.Client{Jar: jar},
		LocalCookie: rpc.ReadLocalCookie(tgt, c.String("auth-cookie")),
	})
	if err != nil {
		return err
	}
	defer box.Close()

	// NO_COLOR (no-color.org): plain text. Colours are fixed ANSI ones
	// otherwise, so the terminal is never asked about its background.
	if os.Getenv("NO_COLOR") != "" {
		lipgloss.SetColorProfile(termenv.Ascii)
	}
	m := ui.New(ui.Options{Box: box, Copy: clipboard(stdout), CookieJar: c.String("cookie-jar")})
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(c.Context), tea.WithInput(stdin), tea.WithOutput(stdout))
	_, err = p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && c.Context.Err() != nil {
		return nil // SIGTERM
	}
	return err
}

// clipboard copies with OSC 52, which terminals (and tmux, passed through)
// turn into a clipboard write, over SSH too. The sequence goes out in one
// write, between the renderer's frames.
func clipboard(out io.Writer) func(string) error {
	return func(s string) error {
		seq := osc52.New(s)
		if os.Getenv("TMUX") != "" {
			seq = seq.Tmux()
		}
		_, err := io.WriteString(out, seq.String())
		return err
	}
}
