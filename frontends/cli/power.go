package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/model"
)

// customizePower makes `server restart` and `server shutdown` ask before
// they take the box down, unless --yes.
func customizePower(cmd *cli.Command, s *session, method, verb string) {
	cmd.ArgsUsage = ""
	cmd.Flags = []cli.Flag{
		&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		&cli.BoolFlag{Name: "force", Usage: "go ahead even while an install, update or removal runs"},
	}
	cmd.Action = func(cCtx *cli.Context) error {
		if !cCtx.Bool("yes") {
			if s.stdin == nil {
				return fmt.Errorf("%s: no terminal to confirm on; pass --yes", verb)
			}
			fmt.Fprintf(s.stderr, "%s the box now? Every service stops. [y/N] ", verb)
			if s.in == nil {
				s.in = bufio.NewReader(s.stdin)
			}
			answer, _ := s.in.ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
				return fmt.Errorf("%s: not confirmed", verb)
			}
		}
		if err := s.invokeQuiet(cCtx.Context, method, model.PowerParams{Force: cCtx.Bool("force")}); err != nil {
			return err
		}
		fmt.Fprintf(s.stdout, "%s under way\n", verb)
		return nil
	}
}
