package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// customizeInstall makes `package install FILE|URL`: a file is sideloaded
// (package.sideload, then the bytes to /rest/rpc/<id>), a URL is fetched by
// the daemon (package.install). Either way each install phase's progress is
// shown on stderr, read live from the state document.
func customizeInstall(cmd *cli.Command, s *session) {
	cmd.Usage = "install a package from a .s9pk file, an http(s) URL, or by id (ID or ID@RANGE) from the configured registries, showing each phase's progress"
	cmd.ArgsUsage = "FILE|URL|ID[@RANGE]"
	cmd.Flags = []cli.Flag{
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress"},
		&cli.StringFlag{Name: "registry", Usage: "install by id from this registry only (default: the newest any configured registry offers)"},
		&cli.StringFlag{Name: "allow-key-change", Usage: "accept an update signed by this new developer key (its fingerprint, SHA256:...)", Value: ""},
	}
	cmd.Action = func(cCtx *cli.Context) error {
		if cCtx.NArg() != 1 {
			return usageError("usage: start-cli package install FILE|URL|ID[@RANGE]")
		}
		ctx := cCtx.Context
		src := cCtx.Args().First()
		c, err := s.connect(ctx, false)
		if err != nil {
			return err
		}
		if !cCtx.Bool("quiet") {
			stop := s.showProgress(ctx)
			defer stop()
		}
		if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
			return c.Call(ctx, "package.install", model.InstallParams{URL: src, AllowKeyChange: cCtx.String("allow-key-change")}, nil)
		}
		if id, rng, ok := registryRef(src); ok {
			if err := c.Call(ctx, "package.install", model.InstallParams{ID: id, Version: rng, Registry: cCtx.String("registry"), AllowKeyChange: cCtx.String("allow-key-change")}, nil); err != nil {
				return err
			}
			fmt.Fprintln(s.stdout, "installed", src)
			return nil
		}
		if err := c.SideloadFile(ctx, model.SideloadParams{AllowKeyChange: cCtx.String("allow-key-change")}, src); err != nil {
			return err
		}
		fmt.Fprintln(s.stdout, "installed", src)
		return nil
	}
}

// showProgress follows /public/packageData and prints the phases of every
// install in progress, until stop is called. It needs a stream transport;
// without one it shows nothing.
func (s *session) showProgress(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	c, err := s.connect(ctx, true)
	if err != nil {
		cancel()
		return func() {}
	}
	r, err := rpc.NewReplica(ctx, c, "/public/packageData")
	if err != nil {
		c.Close()
		cancel()
		return func() {}
	}
	go func() {
		defer close(done)
		last := ""
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var pkgs map[string]model.PackageDataEntry
			if _, err := r.Decode(&pkgs); err != nil {
				continue
			}
			if line := progressLine(pkgs); line != "" && line != last {
				fmt.Fprintln(s.stderr, line)
				last = line
			}
		}
	}()
	return func() {
		cancel()
		<-done
		r.Close()
		c.Close()
	}
}

// progressLine renders each installing package's phases: "hello: Uploading
// done, Validating 40%, Unpacking, Installing".
func progressLine(pkgs map[string]model.PackageDataEntry) string {
	var lines []string
	for id, e := range pkgs {
		ii := e.StateInfo.InstallingInfo
		if ii == nil {
			continue
		}
		var parts []string
		for _, ph := range ii.Progress.Phases {
			parts = append(parts, ph.Name+" "+progressText(ph.Progress))
		}
		lines = append(lines, id+": "+strings.Join(parts, ", "))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func progressText(p model.Progress) string {
	switch p.Kind {
	case model.ProgressNotStarted:
		return "pending"
	case model.ProgressComplete:
		return "done"
	case model.ProgressIndeterminate:
		return "…"
	}
	if p.Total != nil && *p.Total > 0 {
		return fmt.Sprintf("%d%%", p.Done*100 / *p.Total)
	}
	return fmt.Sprint(p.Done)
}

// registryRef reads ID or ID@RANGE, an install from the registries, when
// src names no file: "hello", "hello@^1.2", "hello@>=1.0 <2.0".
func registryRef(src string) (id, rng string, ok bool) {
	if strings.ContainsAny(src, "/\\") || strings.HasSuffix(src, ".s9pk") {
		return "", "", false
	}
	if _, err := os.Stat(src); err == nil {
		return "", "", false
	}
	id, rng, _ = strings.Cut(src, "@")
	if id == "" {
		return "", "", false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return "", "", false
		}
	}
	return id, rng, true
}

// customizeUpdate makes `package update ID|--all`: --all updates every
// package a registry offers a newer version of, one after another.
func customizeUpdate(cmd *cli.Command, s *session) {
	cmd.ArgsUsage = "ID|--all"
	cmd.Flags = append(cmd.Flags,
		&cli.BoolFlag{Name: "all", Usage: "update every package with an update on offer"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress"})
	cmd.Action = func(cCtx *cli.Context) error {
		all := cCtx.Bool("all")
		if all == (cCtx.NArg() == 1) || cCtx.NArg() > 1 {
			return usageError("usage: start-cli package update ID [--version RANGE] | --all")
		}
		ctx := cCtx.Context
		c, err := s.connect(ctx, false)
		if err != nil {
			return err
		}
		if !cCtx.Bool("quiet") {
			stop := s.showProgress(ctx)
			defer stop()
		}
		ids := []string{cCtx.Args().First()}
		if all {
			var ups []model.PackageUpdateInfo
			if err := c.Call(ctx, "package.updates", model.Empty{}, &ups); err != nil {
				return err
			}
			ids = ids[:0]
			for _, u := range ups {
				ids = append(ids, u.ID)
			}
			if len(ids) == 0 {
				fmt.Fprintln(s.stdout, "no updates on offer")
				return nil
			}
		}
		var failed []string
		for _, id := range ids {
			if err := c.Call(ctx, "package.update", model.PackageUpdateParams{ID: id, Version: cCtx.String("version")}, nil); err != nil {
				if !all {
					return err
				}
				fmt.Fprintf(s.stderr, "%s: %v\n", id, err)
				failed = append(failed, id)
				continue
			}
			fmt.Fprintln(s.stdout, "updated", id)
		}
		if len(failed) > 0 {
			return fmt.Errorf("%d of %d updates failed: %s", len(failed), len(ids), strings.Join(failed, ", "))
		}
		return nil
	}
}
