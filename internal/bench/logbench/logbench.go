// Package logbench measures startos/logging: how long a log call takes with
// healthy sinks and with stderr wedged, and how much memory logging holds
// when every queue is at its cap. `just bench` calls Run.
package logbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/startos/logging"
	"github.com/startos-go/startos/startos/model"
)

// config sizes one run; tests use a smaller one.
type config struct {
	calls     int // timed log calls per scenario
	fillLines int // lines logged to bring every queue to its cap
}

var defaultConfig = config{calls: 200_000, fillLines: 200_000}

// Run prints one line per figure to w.
func Run(ctx context.Context, w io.Writer) error {
	return run(ctx, w, defaultConfig)
}

func run(ctx context.Context, w io.Writer, cfg config) error {
	if err := baseline(ctx, w, cfg); err != nil {
		return err
	}
	if err := latency(ctx, w, cfg, false); err != nil {
		return err
	}
	if err := latency(ctx, w, cfg, true); err != nil {
		return err
	}
	return memoryAtCap(ctx, w, cfg)
}

// baseline times the same call on a plain hclog logger writing to
// io.Discard: the cost of formatting alone, and the scheduling noise of the
// machine, to read the other figures against.
func baseline(ctx context.Context, w io.Writer, cfg config) error {
	log := hclog.New(&hclog.LoggerOptions{Name: "startd", Output: io.Discard}).Named("bench")
	durations, err := timeCalls(ctx, log, cfg.calls)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "logging  call latency baseline  %s  (plain hclog to io.Discard)\n", percentiles(durations))
	return nil
}

func timeCalls(ctx context.Context, log hclog.Logger, calls int) ([]time.Duration, error) {
	durations := make([]time.Duration, calls)
	for i := range calls {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		start := time.Now()
		log.Info("request served", "method", "server.echo", "i", i, "took", 42*time.Microsecond)
		durations[i] = time.Since(start)
	}
	return durations, nil
}

// latency times cfg.calls log calls with stderr on a pipe (drained, or never
// read when wedged) and the file sink in a temporary directory.
func latency(ctx context.Context, w io.Writer, cfg config, wedged bool) (err error) {
	dir, err := os.MkdirTemp("", "logbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	r, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	drained := make(chan struct{})
	drain := func() {
		go func() {
			defer close(drained)
			io.Copy(io.Discard, r)
		}()
	}
	if !wedged {
		drain()
	}
	l, err := logging.New(logging.Options{Stderr: pw, Dir: dir, Name: "startd"})
	if err != nil {
		pw.Close()
		return err
	}
	defer func() {
		// Unwedge before closing so the drain goroutine and the pipe are released.
		if wedged {
			drain()
		}
		err = errors.Join(err, l.Close(), pw.Close())
		<-drained
	}()

	durations, err := timeCalls(ctx, l.Logger().Named("bench"), cfg.calls)
	if err != nil {
		return err
	}
	name := "healthy"
	if wedged {
		name = "wedged "
	}
	fmt.Fprintf(w, "logging  call latency %s  %s\n", name, percentiles(durations))
	fmt.Fprintf(w, "logging  sinks %s  %s\n", name, sinkSummary(l.Stats()))
	return nil
}

func percentiles(d []time.Duration) string {
	slices.Sort(d)
	at := func(q float64) float64 {
		i := min(len(d)-1, int(q*float64(len(d))))
		return float64(d[i]) / float64(time.Microsecond)
	}
	return fmt.Sprintf("p50=%.2fµs p99=%.2fµs p99.9=%.2fµs max=%.2fµs n=%d",
		at(0.50), at(0.99), at(0.999), float64(d[len(d)-1])/float64(time.Microsecond), len(d))
}

func sinkSummary(st []model.LogSinkStats) string {
	var parts []string
	for _, s := range st {
		parts = append(parts, fmt.Sprintf("%s: enqueued=%d written=%d dropped=%d degraded=%v",
			s.Name, s.Enqueued, s.Written, s.Dropped, s.Degraded))
	}
	return strings.Join(parts, "  ")
}

// memoryAtCap wedges both sinks (stderr a pipe nobody reads, the log file a
// FIFO nobody reads), logs until every queue and the ring are full, and
// reports the live heap logging holds, after GC, against its budget.
func memoryAtCap(ctx context.Context, w io.Writer, cfg config) (err error) {
	dir, err := os.MkdirTemp("", "logbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fifo := filepath.Join(dir, logging.DefaultFileName)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return fmt.Errorf("logbench: mkfifo: %w", err)
	}
	// A reader that is open but never reads lets the file sink open the FIFO
	// and then wedges its writes.
	fifoR, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer fifoR.Close()
	r, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()

	var before runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)

	l, err := logging.New(logging.Options{Stderr: pw, Dir: dir, Name: "startd"})
	if err != nil {
		pw.Close()
		return err
	}
	var drains []chan struct{}
	unwedge := func(rd io.Reader) {
		done := make(chan struct{})
		drains = append(drains, done)
		go func() {
			defer close(done)
			io.Copy(io.Discard, rd)
		}()
	}
	defer func() {
		unwedge(r)
		unwedge(fifoR)
		err = errors.Join(err, l.Close(), pw.Close())
		for _, d := range drains {
			<-d
		}
	}()

	log := l.Logger().Named("bench")
	pad := strings.Repeat("p", 100)
	for i := range cfg.fillLines {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		log.Info("filling", "i", i, "pad", pad)
	}
	st := l.Stats()
	for _, s := range st {
		if s.Dropped == 0 {
			return fmt.Errorf("logbench: sink %s never filled (%+v); raise fillLines", s.Name, s)
		}
	}
	page, err := l.Entries(model.LogsParams{Limit: 1})
	if err != nil {
		return err
	}

	var after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "logging  memory at cap  heapInuse=%.2fMiB heapAlloc=%.2fMiB budget=%.2fMiB  stderr queued=%.2fMiB file queued=%.2fMiB ring newest=%s\n",
		mib(int64(after.HeapInuse)-int64(before.HeapInuse)),
		mib(int64(after.HeapAlloc)-int64(before.HeapAlloc)),
		mib(logging.DefaultQueueBytes),
		mib(st[0].QueuedBytes), mib(st[1].QueuedBytes), page.EndCursor)
	runtime.KeepAlive(l)
	return nil
}
