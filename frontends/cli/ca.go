package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/model"
)

// customizeCA prints the box's root CA as PEM (for a pipe or a file) and,
// on stderr, its fingerprint and how to trust it.
func customizeCA(cmd *cli.Command, s *session) {
	cmd.Flags = []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the certificate (PEM) to this file instead of stdout"}}
	cmd.Action = func(cCtx *cli.Context) error {
		c, err := s.connect(cCtx.Context, false)
		if err != nil {
			return err
		}
		resp, err := c.Invoke(cCtx.Context, "server.ca", nil)
		if err != nil {
			return err
		}
		var info model.CAInfo
		if err := json.Unmarshal(resp.Result, &info); err != nil {
			return fmt.Errorf("server.ca: %w", err)
		}
		out := cCtx.String("output")
		if out == "" {
			fmt.Fprint(s.stdout, info.PEM)
		} else if err := os.WriteFile(out, []byte(info.PEM), 0o644); err != nil {
			return err
		}
		where := "it"
		if out != "" {
			where = out
		}
		fmt.Fprintf(s.stderr, "SHA-256 fingerprint %s\nTrust %s on each device as a root authority (see docs/lan.md): then https://<hostname>.local and every service address verify.\n", info.Fingerprint, where)
		return nil
	}
}
