// Package benchd runs a startd binary for a bench, as its parent sees it:
// ready once it logs its RPC address, stopped by SIGTERM, and measured
// through /proc.
package benchd

import (
	"bufio"
	"context"
	"errors"
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
)

// Options tune Start; zero values take the defaults.
type Options struct {
	Args         []string      // extra startd flags
	ReadyTimeout time.Duration // default 30 s
	StopTimeout  time.Duration // default 15 s
	Log          io.Writer     // startd's stderr is copied here when set
}

// Process is a running startd.
type Process struct {
	cmd  *exec.Cmd
	Sock string // its unix socket
	stop time.Duration
	done chan error // the exit, once
}

var readyLine = regexp.MustCompile(`ready: http://\S+/rpc/v1`)

// Start runs bin on dataDir (run dir inside it, loopback listener, no
// config file) and waits until it is ready.
func Start(ctx context.Context, bin, dataDir string, o Options) (*Process, error) {
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 15 * time.Second
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	args := append([]string{"--data-dir", dataDir, "--run-dir", filepath.Join(dataDir, "run"), "--listen", "127.0.0.1:0", "--config", ""}, o.Args...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, Sock: filepath.Join(dataDir, "run", "rpc.sock"), stop: o.StopTimeout, done: make(chan error, 1)}
	ready := make(chan bool, 1)
	// Owned by the process: it ends when startd's stderr closes at its exit.
	go func() {
		r := bufio.NewReader(stderr)
		seen := false
		for {
			line, err := r.ReadString('\n')
			if !seen && readyLine.MatchString(line) {
				seen = true
				ready <- true
			}
			if o.Log != nil {
				_, _ = io.WriteString(o.Log, line)
			}
			if err != nil {
				if !seen {
					ready <- false
				}
				p.done <- cmd.Wait()
				return
			}
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			return nil, errors.New("startd exited before it was ready")
		}
	case <-time.After(o.ReadyTimeout):
		p.Kill()
		return nil, fmt.Errorf("startd not ready within %s", o.ReadyTimeout)
	case <-ctx.Done():
		p.Kill()
		return nil, ctx.Err()
	}
	return p, nil
}

// PID is startd's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and times the exit.
func (p *Process) Stop() (time.Duration, error) {
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case err := <-p.done:
		if err != nil {
			return 0, fmt.Errorf("startd exited with %v after SIGTERM", err)
		}
		return time.Since(began), nil
	case <-time.After(p.stop):
		p.Kill()
		return 0, fmt.Errorf("startd still running %s after SIGTERM", p.stop)
	}
}

// Kill ends startd at once; harmless after it has exited.
func (p *Process) Kill() { _ = p.cmd.Process.Kill() }

// RSS is the resident set of pid, in bytes.
func RSS(pid int) (int64, error) { return statusKB(pid, "VmRSS:") }

// RSSPeak is the peak resident set of pid, in bytes.
func RSSPeak(pid int) (int64, error) { return statusKB(pid, "VmHWM:") }

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

// ClockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux port Go runs on).
const ClockTicks = 100

// CPUTicks is utime+stime of pid (fields 14 and 15 of /proc/<pid>/stat).
func CPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	return ut + st, errors.Join(err1, err2)
}

// MiB is b bytes in MiB.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }
