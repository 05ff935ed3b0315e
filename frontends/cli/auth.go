package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/startos/model"
)

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
		_ = unix.IoctlSetTermios(fd, unix.TCSETS, term)
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

// customizeLogout says that the session ended, as the other auth commands
// say what they did.
func customizeLogout(cmd *cli.Command, s *session) {
	cmd.Action = func(cCtx *cli.Context) error {
		if err := s.invokeQuiet(cCtx.Context, "auth.logout", nil); err != nil {
			return err
		}
		fmt.Fprintln(s.stdout, "logged out: this session has ended")
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
		&cli.StringFlag{Name: "setup-code", Usage: "the code startd printed at start; needed only from another machine"},
	}
	cmd.Action = func(cCtx *cli.Context) error {
		pw, err := readNewPassword(s)
		if err != nil {
			return err
		}
		p := model.SetupParams{Password: pw, Name: cCtx.String("name"), Hostname: cCtx.String("hostname"), SetupCode: cCtx.String("setup-code")}
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
