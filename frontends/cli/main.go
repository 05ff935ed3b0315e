// Command start-cli drives a StartOS box from a shell. Its command tree is
// generated from the RPC method table, so every method is a command.
package main

import (
	"context"
	"fmt"
	"github.com/startos-go/startos/internal/cliargs"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdin *os.File, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	if err := app.RunContext(ctx, cliargs.Reorder(app, args)); err != nil {
		fmt.Fprintln(stderr, errorLine(err))
		return exitCode(err)
	}
	return 0
}
