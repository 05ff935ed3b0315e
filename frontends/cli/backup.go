package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/rpc"
)

// customizeBackupPassword makes a backup command read the backup password
// from the terminal without echo (or one line of stdin) instead of taking
// it as an argument, where it would land in shell history; --params can
// still carry it for scripts.
func customizeBackupPassword(cmd *cli.Command, m *rpc.Method, s *session) {
	customizePassword(cmd, m, s, "Backup password: ", false)
}

// customizePassword takes a method's password param off the command line:
// it is read from the terminal without echo (or one line of stdin). An
// optional one is read only with --password-stdin; without it the call
// leaves it out (server.set-smtp then keeps the saved password).
func customizePassword(cmd *cli.Command, m *rpc.Method, s *session, prompt string, optional bool) {
	fields := m.ParamFields()
	var kept []rpc.ParamField
	hasPassword := false
	for _, f := range fields {
		if f.Name == "password" {
			hasPassword = true
			continue
		}
		kept = append(kept, f)
	}
	if !hasPassword {
		return
	}
	cmd.ArgsUsage = strings.TrimSpace(strings.Replace(cmd.ArgsUsage, "PASSWORD", "", 1))
	cmd.ArgsUsage = strings.Join(strings.Fields(cmd.ArgsUsage), " ")
	flags := cmd.Flags[:0]
	for _, f := range cmd.Flags {
		if f.Names()[0] != "password" {
			flags = append(flags, f)
		}
	}
	if optional {
		flags = append(flags, &cli.BoolFlag{Name: "password-stdin", Usage: "read the password from the terminal (or one line of stdin); without it the saved one is kept"})
		cmd.Description = strings.TrimSpace(cmd.Description + "\n\nThe password is never an argument: with --password-stdin it is read from the terminal (or one line of stdin); without it the saved one is kept.")
	} else {
		cmd.Usage += " The backup password is read from the terminal (or one line of stdin)."
	}
	cmd.Flags = flags
	cmd.Action = func(cCtx *cli.Context) error {
		params, err := buildParams(cCtx, kept)
		if err != nil {
			return err
		}
		if _, ok := params["password"]; !ok && (!optional || cCtx.Bool("password-stdin")) {
			pw, err := readSecret(prompt, s)
			if err != nil {
				return err
			}
			params["password"] = pw
		}
		return s.call(cCtx.Context, m.Name, params)
	}
}
