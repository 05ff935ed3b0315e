package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/model"
)

const completionFlag = "--generate-bash-completion"

// takeFlagCompletion notes a flag waiting for its value when the shell asks
// for completions (`package stop --id <TAB>`) and drops it from args: urfave
// would read the completion flag as its value. completeValues answers.
func (s *session) takeFlagCompletion(args []string) []string {
	n := len(args)
	if n < 3 || args[n-1] != completionFlag {
		return args
	}
	flag := args[n-2]
	if !strings.HasPrefix(flag, "-") || flag == "-" || flag == "--" || strings.Contains(flag, "=") {
		return args
	}
	s.completing = strings.TrimLeft(flag, "-")
	return append(args[:n-2:n-2], completionFlag)
}

// withValueCompletion makes every command (and the app, for global flags)
// answer a flag's values first, and otherwise complete as it did.
func withValueCompletion(app *cli.App, s *session) {
	app.BashComplete = func(cCtx *cli.Context) {
		if !s.completeValues(cCtx) {
			cli.DefaultAppComplete(cCtx)
		}
	}
	var walk func(cmds []*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			next := c.BashComplete
			if next == nil {
				next = cli.DefaultCompleteWithFlags(c)
			}
			c.BashComplete = func(cCtx *cli.Context) {
				if !s.completeValues(cCtx) {
					next(cCtx)
				}
			}
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
}

// completeValues prints the values of the flag being completed, from the
// box where they are its ids: package ids (--id, --package-id, --ids,
// --package-ids), backup target ids (--target-id), a package's action ids
// (--action-id, of the package named by --id or the first argument), and
// the --format values. It reports whether a flag value was being completed.
func (s *session) completeValues(cCtx *cli.Context) bool {
	name := s.completing
	if name == "" {
		return false
	}
	var flag cli.Flag
	if cCtx.Command != nil {
		flag = findFlag(cCtx.Command.Flags, name)
	}
	if flag == nil {
		flag = findFlag(cCtx.App.Flags, name)
	}
	global := flag != nil && findFlag(cCtx.App.Flags, name) == flag
	if flag == nil {
		return true // no such flag: nothing fits
	}
	if _, isBool := flag.(*cli.BoolFlag); isBool {
		return false // it takes no value: complete what follows it
	}
	canonical := flag.Names()[0]
	switch {
	case global && canonical == "format":
		for _, v := range []string{"table", "json", "yaml"} {
			fmt.Fprintln(s.stdout, v)
		}
	case slices.Contains([]string{"id", "package-id", "ids", "package-ids"}, canonical):
		s.printFromBox(cCtx, func(ctx context.Context, call caller) []string {
			var list []struct {
				ID string `json:"id"`
			}
			if call(ctx, "package.list", nil, &list) != nil {
				return nil
			}
			out := make([]string, len(list))
			for i, p := range list {
				out[i] = p.ID
			}
			return out
		})
	case canonical == "target-id":
		s.printFromBox(cCtx, targetIDs)
	case canonical == "action-id":
		pkg := cCtx.String("id")
		if pkg == "" {
			pkg = cCtx.Args().First()
		}
		if pkg == "" {
			return true
		}
		s.printFromBox(cCtx, func(ctx context.Context, call caller) []string {
			var info model.PackageInfo
			if call(ctx, "package.info", model.PackageIDParams{ID: pkg}, &info) != nil {
				return nil
			}
			var out []string
			for _, a := range info.Actions {
				out = append(out, a.ID)
			}
			return out
		})
	}
	return true
}

type caller func(ctx context.Context, method string, params, result any) error

func targetIDs(ctx context.Context, call caller) []string {
	var list []model.BackupTarget
	if call(ctx, "backup.target.list", model.Empty{}, &list) != nil {
		return nil
	}
	out := make([]string, len(list))
	for i, t := range list {
		out[i] = t.ID
	}
	return out
}

// printFromBox prints what list finds on the box, one a line; a box that
// does not answer within a second offers nothing.
func (s *session) printFromBox(cCtx *cli.Context, list func(context.Context, caller) []string) {
	if s.configure(cCtx) != nil { // urfave skips Before while completing
		return
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(cCtx.Context, time.Second)
	defer cancel()
	c, err := s.connect(ctx, false)
	if err != nil {
		return
	}
	for _, v := range list(ctx, c.Call) {
		fmt.Fprintln(s.stdout, v)
	}
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}
