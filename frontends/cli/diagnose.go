package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/model"
)

// customizeDiagnose writes the evidence bundle to a file instead of printing
// it; it works over the socket even when the box is in trouble.
func customizeDiagnose(cmd *cli.Command, s *session) {
	cmd.Flags = []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the bundle here (default: the name the daemon gives it)"}}
	cmd.Action = func(cCtx *cli.Context) error {
		c, err := s.connect(cCtx.Context, false)
		if err != nil {
			return err
		}
		resp, err := c.Invoke(cCtx.Context, "server.diagnose", nil)
		if err != nil {
			return err
		}
		var b model.DiagnoseBundle
		if err := json.Unmarshal(resp.Result, &b); err != nil {
			return fmt.Errorf("server.diagnose: %w", err)
		}
		out := cCtx.String("output")
		if out == "" {
			out = b.Name
		}
		if err := os.WriteFile(out, b.Data, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(s.stdout, "wrote %s (%d bytes)\n", out, len(b.Data))
		return nil
	}
}
