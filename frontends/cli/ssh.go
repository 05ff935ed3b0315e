package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/model"
)

// maxKeyInput bounds what `ssh add` reads from a file or stdin; the daemon
// refuses anything longer than a key line anyway.
const maxKeyInput = 1 << 20

// customizeSSHAdd lets `ssh add` take the key line itself, a path to a .pub
// file, or "-" (or nothing) for standard input.
func customizeSSHAdd(cmd *cli.Command, s *session) {
	cmd.ArgsUsage = "KEY | PATH | -"
	cmd.Usage = "authorize an SSH public key: the line itself, a .pub file, or - for standard input"
	cmd.Flags = nil
	cmd.Action = func(cCtx *cli.Context) error {
		if cCtx.NArg() > 1 {
			return fmt.Errorf("ssh add: one key at a time (quote the key line)")
		}
		key, err := readKeyArg(cCtx.Args().First(), s.stdin)
		if err != nil {
			return err
		}
		return s.call(cCtx.Context, "ssh.add", model.SSHAddParams{Key: key})
	}
}

// readKeyArg turns the argument into a key line: "-" or "" reads r, a word
// with no space is a file path, anything else is the line itself.
func readKeyArg(arg string, r io.Reader) (string, error) {
	var src io.Reader
	switch {
	case arg == "" || arg == "-":
		src = r
	case !strings.ContainsAny(arg, " \t"):
		f, err := os.Open(arg)
		if err != nil {
			return "", fmt.Errorf("ssh add: %w", err)
		}
		defer f.Close()
		src = f
	default:
		return arg, nil
	}
	b, err := io.ReadAll(io.LimitReader(src, maxKeyInput+1))
	if err != nil {
		return "", fmt.Errorf("ssh add: %w", err)
	}
	if len(b) > maxKeyInput {
		return "", fmt.Errorf("ssh add: input longer than %d bytes is not a public key", maxKeyInput)
	}
	return string(b), nil
}
