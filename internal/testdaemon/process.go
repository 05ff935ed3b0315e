package testdaemon

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a real startd process on a data directory.
type Process struct {
	Cmd  *exec.Cmd
	HTTP string // http://127.0.0.1:port, from its ready line
	Sock string // its unix socket
}

// BuildStartd compiles startd into a temporary folder, with the given build
// tags (faultinject for the liveness tests' control).
func BuildStartd(t testing.TB, tags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "startd")
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	out, err := exec.Command("go", append(args, "github.com/startos-go/startos/frontends/daemon")...).CombinedOutput()
	if err != nil {
		t.Fatalf("build startd: %v\n%s", err, out)
	}
	return bin
}

var readyLine = regexp.MustCompile(`ready: http://(\S+)/rpc/v1`)

// RunStartd starts bin on dataDir with an ephemeral port (and the LAN
// router on loopback only) and waits for its ready line; extra flags follow
// and override. The test's cleanup kills it if it still runs.
func RunStartd(t testing.TB, bin, dataDir string, extra ...string) *Process {
	t.Helper()
	return RunStartdOn(t, bin, dataDir, "127.0.0.1:0", extra...)
}

// RunStartdOn is RunStartd listening on listen, so that a restarted daemon
// comes back at the address its clients know.
func RunStartdOn(t testing.TB, bin, dataDir, listen string, extra ...string) *Process {
	t.Helper()
	args := []string{"--data-dir", dataDir, "--run-dir", filepath.Join(dataDir, "run"), "--listen", listen, "--config", "",
		"--lan-listen", "127.0.0.1:0", "--lan-http-listen", "",
		"--authorized-keys", filepath.Join(dataDir, "ssh", "authorized_keys")}
	cmd := exec.Command(bin, append(args, extra...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	r := bufio.NewReader(stderr)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		line, err := r.ReadString('\n')
		if m := readyLine.FindStringSubmatch(line); m != nil {
			go func() { _, _ = io.Copy(io.Discard, r) }() // ends when the process does
			return &Process{Cmd: cmd, HTTP: "http://" + m[1], Sock: filepath.Join(dataDir, "run", "rpc.sock")}
		}
		if err != nil {
			t.Fatalf("startd exited before ready: %v", err)
		}
	}
	t.Fatal("startd not ready within 15 s")
	return nil
}

// Stop sends SIGTERM and waits up to 15 s for the process to exit; it
// returns the exit error (nil for status 0).
func (p *Process) Stop(t testing.TB) error {
	t.Helper()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("startd did not stop within 15 s of SIGTERM")
		return nil
	}
}
