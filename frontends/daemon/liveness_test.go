package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// wedgedStartd runs startd with its stderr on a pipe that nobody reads; the
// read end stays open, so writes block once the pipe is full instead of
// failing. It returns the process, the data dir and the pipe's read end.
func wedgedStartd(t *testing.T, env ...string) (*exec.Cmd, string, *os.File) {
	t.Helper()
	bin := testdaemon.BuildStartd(t)
	if len(env) > 0 { // fault knobs exist only in the faultinject build
		bin = testdaemon.BuildStartd(t, "faultinject")
	}
	data := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--data-dir", data, "--run-dir", filepath.Join(data, "run"), "--listen", addr,
		"--config", "", "--log-level", "debug", "--lan-listen", "127.0.0.1:0", "--lan-http-listen", "")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		r.Close()
	})
	sock := filepath.Join(data, "run", "rpc.sock")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := rpc.Dial(context.Background(), "unix://"+sock, rpc.ClientOptions{}); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("startd did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd, data, r
}

// TestWedgedStderrDoesNotStopTheDaemon is the StartOS hang, injected: the
// daemon keeps answering, drops log lines for stderr and counts them exactly,
// reports the sink degraded, and nothing is killed.
func TestWedgedStderrDoesNotStopTheDaemon(t *testing.T) {
	cmd, data, r := wedgedStartd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+filepath.Join(data, "run", "rpc.sock"), rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stderrSink := func() model.LogSinkStats {
		var rep model.WatchdogReport
		if err := c.Call(ctx, "server.watchdog", nil, &rep); err != nil {
			t.Fatal(err)
		}
		for _, s := range rep.Sinks {
			if s.Name == "stderr" {
				return s
			}
		}
		t.Fatal("no stderr sink in the report")
		return model.LogSinkStats{}
	}
	// Every call logs a debug line; keep calling until the stderr queue
	// (a 2 MiB share of the budget) overflows. Every call is answered.
	calls := 0
	for s := stderrSink(); s.Dropped == 0; s = stderrSink() {
		if calls >= 200000 {
			t.Fatalf("no drops after %d calls: %+v", calls, s)
		}
		for range 1000 {
			var out string
			if err := c.Call(ctx, "echo", model.EchoParams{Message: strconv.Itoa(calls)}, &out); err != nil || out != strconv.Itoa(calls) {
				t.Fatalf("call %d: %q %v", calls, out, err)
			}
			calls++
		}
	}
	if s := stderrSink(); !s.Degraded {
		t.Fatalf("stderr sink while wedged and dropping: %+v", s)
	}
	// Past the megamiss threshold: no Fatal probe stalled, no dump, alive.
	time.Sleep(7 * time.Second)
	var rep model.WatchdogReport
	if err := c.Call(ctx, "server.watchdog", nil, &rep); err != nil {
		t.Fatalf("daemon stopped answering: %v", err)
	}
	for _, p := range rep.Watchdog.Probes {
		if p.Severity == "fatal" && p.Megamisses > 0 {
			t.Fatalf("fatal probe %s reached megamiss: %+v", p.Name, p)
		}
	}
	// The degraded sink may be dumped (so an operator sees why), but no
	// fatal probe is.
	for _, d := range rep.Watchdog.Dumps {
		if !strings.Contains(d.Reason, `"log.stderr"`) {
			t.Fatalf("dump for something other than the degraded sink: %+v", d)
		}
	}
	if cmd.ProcessState != nil {
		t.Fatal("daemon exited")
	}
	// Unwedge: the marker line reports the drops, and the books balance.
	var sawMarker bool
	done := make(chan struct{})
	var mu sync.Mutex
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "log lines dropped") {
				mu.Lock()
				sawMarker = true
				mu.Unlock()
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := stderrSink()
		mu.Lock()
		marker := sawMarker
		mu.Unlock()
		if s.QueuedBytes == 0 && marker {
			if s.Enqueued != s.Written+s.Dropped {
				t.Fatalf("enqueued %d != written %d + dropped %d", s.Enqueued, s.Written, s.Dropped)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stderr did not recover: %+v marker=%v", s, marker)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	<-done
}

// TestShippedStartdHasNoFaultKnob: the fault-injection switch that brings the
// original hang back is compiled only into the faultinject test build.
func TestShippedStartdHasNoFaultKnob(t *testing.T) {
	for _, c := range []struct {
		tags []string
		want bool
	}{{nil, false}, {[]string{"faultinject"}, true}} {
		b, err := os.ReadFile(testdaemon.BuildStartd(t, c.tags...))
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(b, []byte("STARTD_FAULT_BLOCKING_LOG")); got != c.want {
			t.Errorf("tags %v: binary names STARTD_FAULT_BLOCKING_LOG = %v, want %v", c.tags, got, c.want)
		}
	}
}

// TestWedgedStderrControl: the same wedge with a plain mutex-guarded logger
// (StartOS's design) stops the loopback probe, and the watchdog's dump shows
// the writer blocked in write and the goroutines queued on the logger's lock.
func TestWedgedStderrControl(t *testing.T) {
	_, data, _ := wedgedStartd(t, "STARTD_FAULT_BLOCKING_LOG=1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := rpc.Dial(ctx, "unix://"+filepath.Join(data, "run", "rpc.sock"), rpc.ClientOptions{})
			if err != nil {
				return
			}
			defer c.Close()
			for ctx.Err() == nil {
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				c.Call(cctx, "echo", model.EchoParams{Message: strings.Repeat("x", 100)}, nil)
				ccancel()
			}
		}()
	}
	defer wg.Wait()
	defer cancel()
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) {
		dumps, _ := filepath.Glob(filepath.Join(data, "watchdog", "*"))
		for _, d := range dumps {
			b, err := os.ReadFile(d)
			if err != nil || !strings.Contains(string(b), "rpc.loopback") {
				continue
			}
			text := string(b)
			if !strings.Contains(text, "os.(*File).Write") || !strings.Contains(text, "sync.(*Mutex).Lock") {
				continue // a dump written before the writers piled up
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("no dump naming rpc.loopback with the blocked writer and the waiters on the logger's lock")
}

// TestSignalDumpAndDiagnose: SIGUSR1 writes a dump; server.watchdog lists it
// with the probes; server.diagnose bundles it with the log ring.
func TestSignalDumpAndDiagnose(t *testing.T) {
	bin := buildStartd(t)
	data := t.TempDir()
	p := startStartd(t, bin, data)
	p.Cmd.Process.Signal(syscall.SIGUSR1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+filepath.Join(data, "run", "rpc.sock"), rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rep model.WatchdogReport
	for len(rep.Watchdog.Dumps) == 0 {
		if ctx.Err() != nil {
			t.Fatal("no dump after SIGUSR1")
		}
		time.Sleep(100 * time.Millisecond)
		if err := c.Call(ctx, "server.watchdog", nil, &rep); err != nil {
			t.Fatal(err)
		}
	}
	names := map[string]bool{}
	for _, pr := range rep.Watchdog.Probes {
		names[pr.Name] = true
	}
	for _, want := range []string{"scheduler", "rpc.loopback", "db.committer", "log.stderr", "log.file", "accounts", "docker.ping"} {
		if !names[want] {
			t.Errorf("probe %s missing from %v", want, names)
		}
	}
	var bundle model.DiagnoseBundle
	if err := c.Call(ctx, "server.diagnose", nil, &bundle); err != nil {
		t.Fatal(err)
	}
	files := tarNames(t, bundle.Data)
	for _, want := range []string{"watchdog.json", "log-ring.txt", "process.txt", "dumps/" + rep.Watchdog.Dumps[0].Name} {
		if !files[want] {
			t.Errorf("bundle lacks %s: %v", want, files)
		}
	}
}

func tarNames(t *testing.T, data []byte) map[string]bool {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
	}
	return names
}
