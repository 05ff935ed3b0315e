// Command start-sdk packages a service for StartOS: it creates a package
// folder, manages the developer key that signs packages, builds images through
// the Docker Engine into a signed .s9pk archive, and verifies and inspects
// archives.
package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/startos-go/startos/internal/cliargs"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, cliargs.Reorder(app, args))
	if err == nil {
		return 0
	}
	code := 1
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(stderr, "start-sdk: %s\n", msg)
	}
	return code
}

// env carries the writers and global settings to commands.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	formatFlag := &cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"}
	app := &cli.App{
		Name:      "start-sdk",
		Usage:     "package services for StartOS",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		// run prints errors and picks the exit code; urfave must not exit.
		ExitErrHandler:       func(*cli.Context, error) {},
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "developer-key-path", Usage: "the signing key (default ~/.startos/developer.key.pem)", EnvVars: []string{"STARTOS_DEVELOPER_KEY_PATH"}},
			&cli.StringFlag{Name: "docker-host", Usage: "the Docker Engine's address (default $DOCKER_HOST or unix:///var/run/docker.sock)"},
		},
		Commands: []*cli.Command{
			{
				Name:      "init",
				Usage:     "create a package folder that packs and runs as it is",
				ArgsUsage: "[DIR]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "id", Usage: "package id (default: from the folder name)"},
					&cli.StringFlag{Name: "title", Usage: "package title (default: from the id)"},
				},
				Action: e.initCmd,
			},
			{
				Name:  "key",
				Usage: "manage the developer key that signs packages",
				Subcommands: []*cli.Command{
					{Name: "init", Usage: "create the developer key", Action: e.keyInit},
					{Name: "show", Usage: "print the developer public key", Flags: []cli.Flag{formatFlag}, Action: e.keyShow},
				},
			},
			{
				Name:      "pack",
				Usage:     "build the package's images and write a signed archive",
				ArgsUsage: "[DIR]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the archive to write (default DIR/<id>.s9pk)"},
					&cli.StringSliceFlag{Name: "arch", Usage: "architecture to build for: x86_64, aarch64 or riscv64 (repeatable; default this machine's)"},
					&cli.StringSliceFlag{Name: "docker-tag", Usage: "take an existing image instead of building: `[IMAGE=]REF` (IMAGE defaults to main)"},
					&cli.BoolFlag{Name: "no-build", Usage: "do not run the manifest's build commands"},
					&cli.BoolFlag{Name: "no-cache", Usage: "build images without the engine's cache"},
					formatFlag,
				},
				Action: e.pack,
			},
			{
				Name:      "verify",
				Usage:     "check an archive's signature, every hash, the manifest and the images",
				ArgsUsage: "FILE",
				Flags:     []cli.Flag{formatFlag},
				Action:    e.verify,
			},
			{
				Name:      "inspect",
				Usage:     "show what an archive holds",
				ArgsUsage: "FILE [manifest|file-tree|cat PATH|commitment]",
				Flags:     []cli.Flag{formatFlag},
				Action:    e.inspect,
			},
		},
	}
	app.Commands = append(app.Commands, e.indexCommands(formatFlag)...)
	return app
}

// version is start-sdk's; TestVersionIsTheProducts keeps it equal to
// startos.Version (start-sdk may not link the daemon's library).
const version = "0.1.0"

func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), 2)
}

func checkFormat(c *cli.Context) (jsonOut bool, err error) {
	switch f := c.String("format"); f {
	case "", "text":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, usageError("unknown --format %q: want text or json", f)
	}
}
