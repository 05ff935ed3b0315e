package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/startos/model"
)

// fileJar is the cookie jar in ~/.startos/cookies.json: per host, written
// atomically with mode 0600, so a session outlives one command.
type fileJar struct {
	path string
	mu   sync.Mutex
}

type jarEntry struct {
	Name    string    `json:"name"`
	Value   string    `json:"value"`
	Expires time.Time `json:"expires,omitzero"`
}

func (j *fileJar) load() map[string][]jarEntry {
	m := map[string][]jarEntry{}
	if b, err := os.ReadFile(j.path); err == nil {
		json.Unmarshal(b, &m)
	}
	return m
}

func (j *fileJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	m := j.load()
	host := jarHost(u)
	now := time.Now()
	for _, c := range cookies {
		kept := m[host][:0]
		for _, e := range m[host] {
			if e.Name != c.Name {
				kept = append(kept, e)
			}
		}
		m[host] = kept
		if c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(now)) {
			continue
		}
		e := jarEntry{Name: c.Name, Value: c.Value}
		if c.MaxAge > 0 {
			e.Expires = now.Add(time.Duration(c.MaxAge) * time.Second)
		}
		m[host] = append(m[host], e)
	}
	if err := j.save(m); err != nil {
		fmt.Fprintln(os.Stderr, "warning: cookie jar not saved:", err)
	}
}

func (j *fileJar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, e := range j.load()[jarHost(u)] {
		if e.Expires.IsZero() || e.Expires.After(time.Now()) {
			out = append(out, &http.Cookie{Name: e.Name, Value: e.Value})
		}
	}
	return out
}

// jarHost keys cookies by host and port; ws:// and http:// share them.
func jarHost(u *url.URL) string { return u.Host }

func (j *fileJar) save(m map[string][]jarEntry) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(j.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".cookies.*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), j.path)
}

// localCookie reads the daemon's local auth cookie when the target is on
// this machine and the file is readable (root or the daemon's user).
func localCookie(target, file string) string {
	u, err := url.Parse(target)
	if err != nil || file == "" {
		return ""
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readSecret reads a password: from stdin without echo when it is a
// terminal, else one line from stdin (for --password-stdin and scripts).
func readSecret(prompt string, s *session) (string, error) {
	if s.in == nil {
		s.in = bufio.NewReader(s.stdin)
	}
	fd := int(s.stdin.Fd())
	term, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		line, err := s.in.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	out := s.stderr
	fmt.Fprint(out, prompt)
	noEcho := *term
	noEcho.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", err
	}
	defer func() {
		unix.IoctlSetTermios(fd, unix.TCSETS, term)
		fmt.Fprintln(out)
	}()
	line, err := s.in.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// customizeLogin makes auth login prompt for the password instead of taking
// it as an argument (where it would land in shell history).
func customizeLogin(cmd *cli.Command, s *session) {
	cmd.ArgsUsage = ""
	cmd.Flags = []cli.Flag{
		&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from standard input"},
		&cli.BoolFlag{Name: "ephemeral", Usage: "a session that ends when the daemon stops"},
	}
	cmd.Action = func(cCtx *cli.Context) error {
		if strings.HasPrefix(s.target, "unix://") {
			fmt.Fprintln(s.stdout, "no login needed: the local socket is trusted")
			return nil
		}
		pw, err := readSecret("Password: ", s)
		if err != nil {
			return err
		}
		if err := s.invokeQuiet(cCtx.Context, "auth.login", model.LoginParams{Password: pw, Ephemeral: cCtx.Bool("ephemeral")}); err != nil {
			return err
		}
		fmt.Fprintln(s.stdout, "logged in")
		return nil
	}
}

// customizeResetPassword prompts for both passwords.
func customizeResetPassword(cmd *cli.Command, s *session) {
	cmd.ArgsUsage = ""
	cmd.Flags = []cli.Flag{&cli.BoolFlag{Name: "password-stdin", Usage: "read old and new password, one per line, from standard input"}}
	cmd.Action = func(cCtx *cli.Context) error {
		oldPw, err := readSecret("Current password: ", s)
		if err != nil {
			return err
		}
		newPw, err := readNewPassword(s)
		if err != nil {
			return err
		}
		if err := s.invokeQuiet(cCtx.Context, "auth.reset-password", model.ResetPasswordParams{OldPassword: oldPw, NewPassword: newPw}); err != nil {
			return err
		}
		fmt.Fprintln(s.stdout, "password changed; every other session has ended")
		return nil
	}
}

// customizeSetup makes `start-cli setup` the interactive first run.
func customizeSetup(cmd *cli.Command, s *session) {
	cmd.Usage = "give the box its owner: set the password (once)"
	cmd.Flags = []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "the box's display name"},
		&cli.StringFlag{Name: "hostname", Usage: "the box's hostname"},
		&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from standard input"},
	}
	cmd.Action = func(cCtx *cli.Context) error {
		pw, err := readNewPassword(s)
		if err != nil {
			return err
		}
		p := model.SetupParams{Password: pw, Name: cCtx.String("name"), Hostname: cCtx.String("hostname")}
		if err := s.invokeQuiet(cCtx.Context, "setup.execute", p); err != nil {
			return err
		}
		fmt.Fprintln(s.stdout, "setup complete; log in with: start-cli auth login")
		return nil
	}
}

// readNewPassword asks twice on a terminal, once from a pipe.
func readNewPassword(s *session) (string, error) {
	pw, err := readSecret("New password: ", s)
	if err != nil {
		return "", err
	}
	if _, terr := unix.IoctlGetTermios(int(s.stdin.Fd()), unix.TCGETS); terr == nil {
		again, err := readSecret("Repeat it: ", s)
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("the two passwords differ")
		}
	}
	return pw, nil
}
