// Package cliargs lets urfave/cli v2 commands take flags after their
// arguments, as people type them.
package cliargs

import (
	"strings"

	"github.com/urfave/cli/v2"
)

const completionFlag = "--generate-bash-completion"

// Reorder moves a command's flags in front of its arguments, because
// urfave/cli v2 stops reading flags at the first argument: without this,
// `start-sdk pack . -o out.s9pk` would ignore -o. The command is the deepest
// one named; a command with subcommands is the leaf when the next word is not
// one of them (`start-cli package logs ID -f`).
func Reorder(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	// urfave/cli sees shell completion only as the very last word, and not
	// at all after "--", which the reordering puts before the arguments.
	if n := len(args); args[n-1] == completionFlag {
		var out []string
		for _, a := range Reorder(app, args[:n-1]) {
			if a != "--" {
				out = append(out, a)
			}
		}
		return append(out, completionFlag)
	}
	out := []string{args[0]}
	rest := args[1:]
	// Global flags and command names come first.
	cmds := app.Commands
	flags := app.Flags
	var leaf *cli.Command
	for len(rest) > 0 {
		a := rest[0]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") {
			out = append(out, a)
			rest = rest[1:]
			if takesValue(flags, a) && len(rest) > 0 {
				out = append(out, rest[0])
				rest = rest[1:]
			}
			continue
		}
		cmd := findCommand(cmds, a)
		if cmd == nil {
			break
		}
		out = append(out, a)
		rest = rest[1:]
		leaf, cmds, flags = cmd, cmd.Subcommands, cmd.Flags
		if len(cmds) == 0 {
			break
		}
	}
	if leaf == nil {
		return append(out, rest...)
	}
	var fl, pos []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			pos = append(pos, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			fl = append(fl, a)
			if takesValue(flags, a) && i+1 < len(rest) {
				fl = append(fl, rest[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	out = append(out, fl...)
	if len(pos) > 0 {
		out = append(out, "--")
		out = append(out, pos...)
	}
	return out
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

// takesValue reports whether a flag (as written, "-o" or "--output") needs
// the next argument as its value.
func takesValue(flags []cli.Flag, arg string) bool {
	if strings.Contains(arg, "=") {
		return false
	}
	name := strings.TrimLeft(arg, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
