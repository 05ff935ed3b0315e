package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// lifecycleTargets: the status each command waits for with --wait ("" for
// uninstall: until the package is gone).
var lifecycleTargets = map[string]string{
	"package.start":     model.DesiredRunning,
	"package.stop":      model.DesiredStopped,
	"package.restart":   model.DesiredRunning,
	"package.uninstall": "",
}

// customizeLifecycle makes start, stop, restart and uninstall say what
// changed and, with --wait, follow the state until it is reached or failed;
// uninstall shows the manifest's alert and asks unless --yes.
func customizeLifecycle(cmd *cli.Command, s *session, method string) {
	cmd.Flags = append(cmd.Flags,
		&cli.BoolFlag{Name: "wait", Aliases: []string{"w"}, Usage: "wait until the package reaches the state (or fails)"},
		&cli.DurationFlag{Name: "wait-timeout", Value: 5 * time.Minute, Usage: "how long --wait waits"},
	)
	if method == "package.uninstall" {
		cmd.Flags = append(cmd.Flags, &cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask before deleting the package's data"})
	}
	generic := cmd.Action
	cmd.Action = func(cCtx *cli.Context) error {
		params, err := buildParams(cCtx, methodFields(method))
		if err != nil {
			return err
		}
		id, _ := params["id"].(string)
		if id == "" {
			return generic(cCtx) // the daemon names what is missing
		}
		before, alert, err := s.packageStatus(cCtx.Context, id)
		if err != nil {
			return err
		}
		if method == "package.uninstall" && !cCtx.Bool("yes") && before != "not installed" {
			soft, _ := params["soft"].(bool)
			if err := s.confirmUninstall(id, alert, soft); err != nil {
				return err
			}
		}
		if err := s.invokeQuiet(cCtx.Context, method, params); err != nil {
			return err
		}
		target := lifecycleTargets[method]
		if !s.quiet {
			switch {
			case target == "":
				fmt.Fprintf(s.stdout, "%s: %s → uninstalling\n", id, before)
			case method == "package.restart":
				fmt.Fprintf(s.stdout, "%s: %s → restarting\n", id, before)
			default:
				fmt.Fprintf(s.stdout, "%s: %s → %s\n", id, before, target)
			}
		}
		if !cCtx.Bool("wait") {
			return nil
		}
		return s.waitFor(cCtx.Context, id, target, cCtx.Duration("wait-timeout"))
	}
}

// packageStatus reads a package's derived status and uninstall alert from
// the state document.
func (s *session) packageStatus(ctx context.Context, id string) (status, alert string, err error) {
	var d model.Dump
	resp, err := s.invoke(ctx, "db.dump", model.DumpParams{Pointer: "/public/packageData/" + id})
	var re *rpc.Error
	if errors.As(err, &re) && re.Code == rpc.CodeNotFound {
		return "not installed", "", nil
	}
	if err != nil {
		return "", "", err
	}
	if err := json.Unmarshal(resp.Result, &d); err != nil {
		return "", "", err
	}
	if string(d.Value) == "null" || len(d.Value) == 0 {
		return "not installed", "", nil
	}
	var e model.PackageDataEntry
	if err := json.Unmarshal(d.Value, &e); err != nil {
		return "", "", fmt.Errorf("package %s: %w", id, err)
	}
	var mf struct {
		Alerts struct {
			Uninstall string `json:"uninstall"`
		} `json:"alerts"`
	}
	_ = json.Unmarshal(e.StateInfo.Manifest, &mf) // no manifest: no alert
	return model.DeriveStatus(&e).Primary, mf.Alerts.Uninstall, nil
}

// confirmUninstall shows the alert and asks; without a terminal (a script)
// it refuses rather than delete data unasked.
func (s *session) confirmUninstall(id, alert string, soft bool) error {
	what := "uninstall " + id + " and delete its data"
	if soft {
		what = "uninstall " + id + " (its data is kept)"
	}
	if alert != "" {
		fmt.Fprintf(s.stderr, "%s\n\n", alert)
	}
	if !isTerminal(s.stdin) {
		return usageError("refusing to " + what + " without asking: run it in a terminal, or pass --yes")
	}
	fmt.Fprintf(s.stderr, "%s? [y/N] ", what)
	if s.in == nil {
		s.in = bufio.NewReader(s.stdin)
	}
	answer, _ := s.in.ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return errors.New("not uninstalled")
	}
	return nil
}

// waitFor follows the package until it shows target ("" = gone), fails, or
// the timeout passes.
func (s *session) waitFor(ctx context.Context, id, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := ""
	for {
		st, _, err := s.packageStatus(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: still %s after %s", id, last, timeout)
			}
			return err
		}
		if st != last && !s.quiet {
			fmt.Fprintf(s.stdout, "%s: %s\n", id, st)
		}
		last = st
		switch {
		case target == "" && st == "not installed", st == target:
			return nil
		case st == model.StatusError:
			return fmt.Errorf("%s: failed: see start-cli package info %s and start-cli package logs %s", id, id, id)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: still %s after %s (--wait-timeout)", id, last, timeout)
		case <-t.C:
		}
	}
}

// isTerminal reports whether f is a terminal (a person can answer).
func isTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
