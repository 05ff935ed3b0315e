// Command start-cli drives a StartOS box from a shell. Its command tree is
// generated from the RPC method table, so every method is a command.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/internal/cliargs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdin *os.File, stdout, stderr io.Writer) int {
	app, s := newAppSession(stdin, stdout, stderr)
	err := app.RunContext(ctx, cliargs.Reorder(app, hoistGlobals(app, s.takeFlagCompletion(args))))
	if err == nil && s.notFound != "" {
		err = usageError(fmt.Sprintf("unknown command %q\nhint: start-cli --help lists the commands", s.notFound))
	}
	if err != nil {
		fmt.Fprintln(stderr, errorLine(err))
		return exitCode(err)
	}
	return exitOK
}

// hoistGlobals moves global flags typed after the command to the front, as
// kubectl and docker allow (`package list -o json`); a flag the command
// itself defines stays with it (logs -f is follow).
func hoistGlobals(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	global := map[string]cli.Flag{}
	for _, f := range app.Flags {
		for _, n := range f.Names() {
			global[n] = f
		}
	}
	own := map[string]bool{}
	cmds := app.Commands
	var front, rest []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && a != "-" {
			f, isGlobal := global[name]
			if isGlobal && !own[name] {
				front = append(front, a)
				if _, isBool := f.(*cli.BoolFlag); !isBool && !hasValue && i+1 < len(args) {
					front = append(front, args[i+1])
					i++
				}
				continue
			}
			rest = append(rest, a)
			continue
		}
		for _, c := range cmds {
			if c.HasName(a) {
				for _, f := range c.Flags {
					for _, n := range f.Names() {
						own[n] = true
					}
				}
				cmds = c.Subcommands
				break
			}
		}
		rest = append(rest, a)
	}
	return append(append([]string{args[0]}, front...), rest...)
}
