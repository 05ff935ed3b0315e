package logging

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/startos/errdefs"
)

// wedge logs until the stderr drain has been parked in one write for at
// least 100 ms, which proves the sink is really blocked and not failing.
func wedge(t *testing.T, l *Logging, log hclog.Logger) int {
	t.Helper()
	calls := 0
	waitFor(t, "the stderr write to block", func() bool {
		log.Info("filling the pipe", "i", calls, "pad", strings.Repeat("x", 200))
		calls++
		return l.Stats()[0].StuckForMs >= 100
	})
	return calls
}

func TestWedgedStderrNeverBlocksLoggers(t *testing.T) {
	r, w := smallPipe(t)
	// 16 MiB: stderr 4 MiB, file 8 MiB. The 10,000 padded lines below need
	// about 5.5 MiB: more than stderr holds, less than the file holds even if
	// its drain never ran, so the file's "no drops" does not depend on timing.
	l, err := New(Options{Stderr: w, Dir: t.TempDir(), QueueBytes: 16 << 20, StuckAfter: 50 * time.Millisecond, Name: "startd"})
	if err != nil {
		t.Fatal(err)
	}
	log := l.Logger().Named("rpc")
	calls := wedge(t, l, log)

	// 10,000 more calls from several goroutines, while the stderr write stays
	// blocked, must all return.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const loggers, each = 4, 2500
	pad := strings.Repeat("p", 400)
	done := make(chan struct{})
	for g := range loggers {
		go func() {
			sub := log.With("logger", g)
			for i := range each {
				sub.Info("request served", "i", i, "pad", pad)
			}
			done <- struct{}{}
		}()
	}
	for range loggers {
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatalf("log calls blocked behind the wedged stderr: %v", ctx.Err())
		}
	}
	calls += loggers * each

	st := l.Stats()
	stderr, file := st[0], st[1]
	if stderr.Name != SinkStderr || file.Name != SinkFile {
		t.Fatalf("sink order = %s, %s", stderr.Name, file.Name)
	}
	if stderr.Enqueued != uint64(calls) {
		t.Errorf("stderr enqueued = %d, want %d calls", stderr.Enqueued, calls)
	}
	if !stderr.Degraded || stderr.StuckForMs < 100 {
		t.Errorf("wedged stderr: degraded=%v stuckForMs=%d, want degraded and stuck >= 100ms", stderr.Degraded, stderr.StuckForMs)
	}
	if stderr.Dropped == 0 {
		t.Error("wedged stderr dropped nothing")
	}
	if budget := l.sinks[0].budget; stderr.QueuedBytes > budget {
		t.Errorf("stderr queue holds %d bytes, over its budget %d", stderr.QueuedBytes, budget)
	}
	if stderr.Enqueued < stderr.Written+stderr.Dropped {
		t.Errorf("stderr counts more written+dropped (%d+%d) than enqueued (%d)", stderr.Written, stderr.Dropped, stderr.Enqueued)
	}
	// The file sink is independent of the wedge.
	flushFile(t, l)
	if f := l.Stats()[1]; f.Written != uint64(calls) || f.Dropped != 0 {
		t.Errorf("file sink: written=%d dropped=%d, want %d written and none dropped", f.Written, f.Dropped, calls)
	}

	// Unwedge: the queued lines and a marker with the exact drop count come out.
	rd := startReader(r, 0)
	flush(t, l)
	st = l.Stats()
	stderr = st[0]
	if stderr.Enqueued != stderr.Written+stderr.Dropped || stderr.QueuedBytes != 0 {
		t.Fatalf("after recovery: enqueued=%d written=%d dropped=%d queued=%d", stderr.Enqueued, stderr.Written, stderr.Dropped, stderr.QueuedBytes)
	}
	if stderr.StuckForMs != 0 {
		t.Errorf("after recovery stuckForMs = %d", stderr.StuckForMs)
	}
	log.Info("after the wedge")
	closeLogging(t, l)
	w.Close()
	out := rd.wait(t)

	lines, markers, dropped := countLines(t, out)
	if markers == 0 {
		t.Fatal("no drop marker written after the sink recovered")
	}
	if dropped != stderr.Dropped {
		t.Errorf("markers report %d dropped, stats say %d", dropped, stderr.Dropped)
	}
	if uint64(lines) != stderr.Written+1 {
		t.Errorf("read %d lines, stats say %d written (+1 after the wedge)", lines, stderr.Written)
	}
	if !strings.HasSuffix(out, "startd.rpc: after the wedge\n") {
		t.Errorf("output does not end with the line logged after recovery: %q", out[max(0, len(out)-200):])
	}
	// Degraded by drops wears off once the sink has been healthy for StuckAfter.
	waitFor(t, "stderr to stop being degraded", func() bool { return !l.Stats()[0].Degraded })
}

func flushFile(t *testing.T, l *Logging) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-l.sinks[1].idleChan():
	case <-ctx.Done():
		t.Fatal("file sink did not flush within 10s")
	}
}

// The control: the same wedge under hclog with a plain Output. hclog holds
// its mutex across the write, so a second goroutine's log call blocks.
func TestControlPlainWriterBlocksOtherLoggers(t *testing.T) {
	r, w := smallPipe(t)
	log := hclog.New(&hclog.LoggerOptions{Name: "control", Output: w})

	firstDone := make(chan struct{})
	go controlFirstWriter(log, firstDone)
	waitFor(t, "the first writer to block in write", func() bool {
		return goroutineBlocked("logging.controlFirstWriter", "os.(*File).Write")
	})
	secondDone := make(chan struct{})
	go controlSecondLogger(log.Named("sibling"), secondDone)
	waitFor(t, "the second logger to wait on hclog's mutex", func() bool {
		return goroutineBlocked("logging.controlSecondLogger", "sync.(*Mutex).Lock")
	})
	select {
	case <-secondDone:
		t.Fatal("second logger finished while the first write was wedged")
	default:
	}

	rd := startReader(r, 0)
	for _, ch := range []chan struct{}{firstDone, secondDone} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("loggers still blocked after the pipe was drained")
		}
	}
	w.Close()
	if out := rd.wait(t); !strings.Contains(out, "control.sibling: second") {
		t.Errorf("second line missing from output")
	}
}

func controlFirstWriter(log hclog.Logger, done chan struct{}) {
	log.Info(strings.Repeat("x", 64<<10)) // 16 pipe buffers: blocks in write
	close(done)
}

func controlSecondLogger(log hclog.Logger, done chan struct{}) {
	log.Info("second")
	close(done)
}

func TestCloseDoesNotHangOnWedgedSink(t *testing.T) {
	r, w := smallPipe(t)
	l, err := New(Options{Stderr: w, QueueBytes: MinQueueBytes, CloseTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	log := l.Logger()
	wedge(t, l, log)

	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err = <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on the wedged sink")
	}
	if !errors.Is(err, errdefs.ErrTimeout) || !strings.Contains(err.Error(), "stderr") {
		t.Fatalf("Close = %v, want a timeout naming stderr", err)
	}
	if again := l.Close(); !errors.Is(again, errdefs.ErrTimeout) {
		t.Errorf("second Close = %v, want the same error", again)
	}

	before := l.Stats()[0]
	log.Info("after close")
	after := l.Stats()[0]
	if after.Enqueued != before.Enqueued+1 || after.Dropped != before.Dropped+1 {
		t.Errorf("a line after Close: enqueued %d->%d dropped %d->%d, want both +1",
			before.Enqueued, after.Enqueued, before.Dropped, after.Dropped)
	}

	// Let the abandoned drain finish so nothing leaks.
	rd := startReader(r, 0)
	select {
	case <-l.sinks[0].done:
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not exit once its write returned")
	}
	w.Close()
	rd.wait(t)
	if st := l.Stats()[0]; st.Enqueued != st.Written+st.Dropped {
		t.Errorf("after close: enqueued=%d written=%d dropped=%d", st.Enqueued, st.Written, st.Dropped)
	}
}

func TestDeadSinkDropsAndReportsIt(t *testing.T) {
	r, w := smallPipe(t)
	r.Close() // writes now fail with EPIPE (not fd 2, so no SIGPIPE)
	l, err := New(Options{Stderr: w})
	if err != nil {
		t.Fatal(err)
	}
	defer closeLogging(t, l)
	for i := range 100 {
		l.Logger().Info("into the void", "i", i)
	}
	flush(t, l)
	st := l.Stats()[0]
	if st.Enqueued != 100 || st.Written != 0 || st.Dropped != 100 {
		t.Errorf("dead sink: enqueued=%d written=%d dropped=%d, want 100/0/100", st.Enqueued, st.Written, st.Dropped)
	}
	if !st.Degraded || !strings.Contains(st.LastError, "broken pipe") {
		t.Errorf("dead sink: degraded=%v lastError=%q", st.Degraded, st.LastError)
	}
}
