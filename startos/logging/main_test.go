package logging

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/internal/golden"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// smallPipe returns a real pipe whose buffer is one page, so a few lines fill
// it. The read end stays referenced by the caller: once nobody holds it the
// collector closes it and writes fail with EPIPE instead of blocking.
func smallPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fcntlErr error
	// SyscallConn rather than Fd: Fd would switch the pipe to blocking mode.
	if err := raw.Control(func(fd uintptr) {
		_, fcntlErr = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 4096)
	}); err != nil {
		t.Fatal(err)
	}
	if fcntlErr != nil {
		t.Fatalf("F_SETPIPE_SZ: %v", fcntlErr)
	}
	t.Cleanup(func() {
		w.Close()
		r.Close()
	})
	return r, w
}

// reader collects everything read from r until EOF, optionally slowly.
type reader struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func startReader(r io.Reader, pause time.Duration) *reader {
	rd := &reader{done: make(chan struct{})}
	go func() {
		defer close(rd.done)
		p := make([]byte, 4096)
		for {
			n, err := r.Read(p)
			rd.mu.Lock()
			rd.buf.Write(p[:n])
			rd.mu.Unlock()
			if err != nil {
				return
			}
			if pause > 0 {
				time.Sleep(pause)
			}
		}
	}()
	return rd
}

func (rd *reader) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-rd.done:
	case <-time.After(10 * time.Second):
		t.Fatal("reader did not reach EOF within 10s")
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.buf.String()
}

var markerRE = regexp.MustCompile(`logging: (\d+) log lines dropped: sink=(\w+)$`)

// countLines splits sink output into ordinary lines and the total that marker
// lines report as dropped.
func countLines(t *testing.T, out string) (lines int, markers int, dropped uint64) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m := markerRE.FindStringSubmatch(sc.Text()); m != nil {
			n, err := strconv.ParseUint(m[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			markers++
			dropped += n
			continue
		}
		lines++
	}
	return lines, markers, dropped
}

func flush(t *testing.T, l *Logging) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func closeLogging(t *testing.T, l *Logging) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// goroutineBlocked reports whether some goroutine whose stack contains fn is
// also in frame (for instance sync.(*Mutex).Lock).
func goroutineBlocked(fn, frame string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) && strings.Contains(g, frame) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readGolden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := "testdata/" + name
	want := golden.Read(t, path, got)
	return want
}
