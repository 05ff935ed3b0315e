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
	cmd.Flags = flags
	cmd.Usage += " The backup password is read from the terminal (or one line of stdin)."
	cmd.Action = func(cCtx *cli.Context) error {
		params, err := buildParams(cCtx, kept)
		if err != nil {
			return err
		}
		if _, ok := params["password"]; !ok {
			pw, err := readSecret("Backup password: ", s)
			if err != nil {
				return err
			}
			params["password"] = pw
		}
		return s.call(cCtx.Context, m.Name, params)
	}
}
