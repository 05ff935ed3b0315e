// Package footbench measures the daemon's footprint as a process: its RSS
// after setup and ten logins (two argon2id hashes of 64 MiB each at most at
// a time) once it has idled, and how long SIGTERM takes to end it. It builds
// and runs a real startd on a temporary data directory. `just bench` calls
// Run.
package footbench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

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

	d, err := start(ctx, bin, filepath.Join(dir, "rss"))
	if err != nil {
		return err
	}
	defer d.kill()
	idleRSS, err := rss(d.cmd.Process.Pid)
	if err != nil {
		return err
	}
	c, err := rpc.Dial(ctx, d.sock, rpc.ClientOptions{})
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
	peak, _ := rssPeak(d.cmd.Process.Pid)
	select {
	case <-time.After(cfg.idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	after, err := rss(d.cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "foot     startd RSS  fresh=%.1f MiB  peak=%.1f MiB  after setup + %d logins and %s idle=%.1f MiB\n",
		mib(idleRSS), mib(peak), cfg.logins, cfg.idle, mib(after))
	goal.AtMost(w, fmt.Sprintf("startd RSS after setup + %d logins, %s idle", cfg.logins, cfg.idle), mib(after), 40, "%.1f MiB", "<= 40 MiB")

	var stops []time.Duration
	took, err := d.stop()
	if err != nil {
		return err
	}
	stops = append(stops, took)
	for i := 1; i < cfg.stops; i++ {
		d, err := start(ctx, bin, filepath.Join(dir, fmt.Sprint("stop", i)))
		if err != nil {
			return err
		}
		took, err := d.stop()
		if err != nil {
			d.kill()
			return err
		}
		stops = append(stops, took)
	}
	med := median(stops)
	fmt.Fprintf(w, "foot     SIGTERM to exit, idle  median=%s  runs=%v\n", med.Round(10*time.Microsecond), stops)
	goal.AtMost(w, "SIGTERM to exit, idle", float64(med)/1e6, 200, "%.1f ms", "<= 200 ms")
	return nil
}

type daemon struct {
	cmd  *exec.Cmd
	sock string
	done chan error
}

var readyLine = regexp.MustCompile(`ready: http://\S+/rpc/v1`)

func start(ctx context.Context, bin, dataDir string) (*daemon, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--data-dir", dataDir, "--run-dir", filepath.Join(dataDir, "run"), "--listen", "127.0.0.1:0", "--config", "")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, sock: filepath.Join(dataDir, "run", "rpc.sock"), done: make(chan error, 1)}
	ready := make(chan bool, 1)
	go func() {
		r := bufio.NewReader(stderr)
		seen := false
		for {
			line, err := r.ReadString('\n')
			if !seen && readyLine.MatchString(line) {
				seen = true
				ready <- true
			}
			if err != nil {
				if !seen {
					ready <- false
				}
				d.done <- cmd.Wait()
				return
			}
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			return nil, fmt.Errorf("startd exited before it was ready")
		}
	case <-time.After(30 * time.Second):
		d.kill()
		return nil, fmt.Errorf("startd not ready within 30 s")
	case <-ctx.Done():
		d.kill()
		return nil, ctx.Err()
	}
	return d, nil
}

// stop sends SIGTERM and times the exit, as its parent sees it.
func (d *daemon) stop() (time.Duration, error) {
	began := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case err := <-d.done:
		if err != nil {
			return 0, fmt.Errorf("startd exited with %v after SIGTERM", err)
		}
		return time.Since(began), nil
	case <-time.After(15 * time.Second):
		d.kill()
		return 0, fmt.Errorf("startd still running 15 s after SIGTERM")
	}
}

func (d *daemon) kill() {
	if d.cmd.ProcessState == nil {
		d.cmd.Process.Kill()
	}
}

func rss(pid int) (int64, error) { return statusKB(pid, "VmRSS:") }

func rssPeak(pid int) (int64, error) { return statusKB(pid, "VmHWM:") }

// statusKB reads a "Name: N kB" line of /proc/<pid>/status, in bytes.
func statusKB(pid int, name string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", name, pid)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

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
