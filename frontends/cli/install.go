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
	cmd.Usage = "install a package from a .s9pk file or an http(s) URL, showing each phase's progress"
	cmd.ArgsUsage = "FILE|URL"
	cmd.Flags = []cli.Flag{
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress"},
		&cli.StringFlag{Name: "allow-key-change", Usage: "accept an update signed by this new developer key (its fingerprint, SHA256:...)", Value: ""},
	}
	cmd.Action = func(cCtx *cli.Context) error {
		if cCtx.NArg() != 1 {
			return usageError("usage: start-cli package install FILE|URL")
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
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if err := c.Sideload(ctx, model.SideloadParams{AllowKeyChange: cCtx.String("allow-key-change")}, f, st.Size()); err != nil {
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
