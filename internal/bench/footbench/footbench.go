// Package footbench measures the daemon's footprint as a process: its RSS
// after setup and ten logins (two argon2id hashes of 64 MiB each at most at
// a time) once it has idled, and how long SIGTERM takes to end it. It builds
// and runs a real startd on a temporary data directory. `just bench` calls
// Run.
package footbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/startos-go/startos/internal/bench/benchd"
	"github.com/startos-go/startos/internal/bench/goal"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// config sizes one run; the test uses a shorter idle.
type config struct {
	logins int
	idle   time.Duration
	stops  int // SIGTERM runs, the median is reported
}

var defaultConfig = config{logins: 10, idle: 60 * time.Second, stops: 5}

// Run prints the figures to w.
func Run(ctx context.Context, w io.Writer) error { return run(ctx, w, defaultConfig) }

func run(ctx context.Context, w io.Writer, cfg config) error {
	dir, err := os.MkdirTemp("", "footbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "startd")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/startos-go/startos/frontends/daemon").CombinedOutput(); err != nil {
		return fmt.Errorf("building startd: %v\n%s", err, out)
	}

	d, err := benchd.Start(ctx, bin, filepath.Join(dir, "rss"), benchd.Options{})
	if err != nil {
		return err
	}
	defer d.Kill()
	idleRSS, err := benchd.RSS(d.PID())
	if err != nil {
		return err
	}
	c, err := rpc.Dial(ctx, d.Sock, rpc.ClientOptions{})
	if err != nil {
		return err
	}
	defer c.Close()
	const pw = "correct horse battery staple"
	if err := c.Call(ctx, "setup.execute", model.SetupParams{Password: pw}, nil); err != nil {
		return fmt.Errorf("setup.execute: %w", err)
	}
	for i := range cfg.logins {
		if err := c.Call(ctx, "auth.login", model.LoginParams{Password: pw, Ephemeral: true}, nil); err != nil {
			return fmt.Errorf("login %d: %w", i, err)
		}
	}
	peak, _ := benchd.RSSPeak(d.PID())
	select {
	case <-time.After(cfg.idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	after, err := benchd.RSS(d.PID())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "foot     startd RSS  fresh=%.1f MiB  peak=%.1f MiB  after setup + %d logins and %s idle=%.1f MiB\n",
		benchd.MiB(idleRSS), benchd.MiB(peak), cfg.logins, cfg.idle, benchd.MiB(after))
	goal.AtMost(w, fmt.Sprintf("startd RSS after setup + %d logins, %s idle", cfg.logins, cfg.idle), benchd.MiB(after), 40, "%.1f MiB", "<= 40 MiB")

	var stops []time.Duration
	took, err := d.Stop()
	if err != nil {
		return err
	}
	stops = append(stops, took)
	for i := 1; i < cfg.stops; i++ {
		d, err := benchd.Start(ctx, bin, filepath.Join(dir, fmt.Sprint("stop", i)), benchd.Options{})
		if err != nil {
			return err
		}
		took, err := d.Stop()
		if err != nil {
			d.Kill()
			return err
		}
		stops = append(stops, took)
	}
	med := median(stops)
	fmt.Fprintf(w, "foot     SIGTERM to exit, idle  median=%s  runs=%v\n", med.Round(10*time.Microsecond), stops)
	goal.AtMost(w, "SIGTERM to exit, idle", float64(med)/1e6, 200, "%.1f ms", "<= 200 ms")
	return nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
