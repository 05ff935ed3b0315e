// Package logging gives the library and its frontends go-hclog loggers that
// never block their caller.
//
// hclog holds its mutex while it calls Output.Write, and every sub-logger
// shares that mutex, so one write that does not return (a stderr pipe nobody
// reads, a journald stream that stalled) stops every goroutine that logs. Here
// Output copies the line into a bounded queue per sink and returns; one drain
// goroutine per sink does the I/O. A sink that cannot keep up loses lines, and
// they are counted: for each sink, enqueued == written + dropped whenever its
// queue is empty, and a marker line ("N log lines dropped") is written to it
// once it moves again.
//
// Sinks: stderr (Options.Stderr) and, when Options.Dir is set, a size-rotated
// file <Dir>/startd.log. An in-memory ring of recent entries is filled on the
// caller's path (a copy under a short lock, no I/O) and serves server.logs and
// server.logs.follow.
//
// Memory: Options.QueueBytes (default 8 MiB) is the budget for everything the
// package holds. A quarter goes to the ring (its entry slots take at most half
// of that, messages the rest, oldest evicted first); of the rest, stderr gets
// a third and the file two thirds (stderr gets it all when there is no file).
// With the defaults that is ring 2 MiB, stderr 2 MiB, file 4 MiB. Each queued
// line is charged its bytes plus a fixed overhead, so the bound holds for
// floods of short lines too; a line is copied once and shared by the sinks,
// each charging it in full. Lines longer than 16 KiB are truncated and say so.
package logging

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

// Defaults for Options.
const (
	DefaultQueueBytes   = 8 << 20
	DefaultRingSize     = 10_000
	DefaultFileName     = "startd.log"
	DefaultFileMaxBytes = 16 << 20
	DefaultFileKeep     = 3
	DefaultStuckAfter   = 5 * time.Second
	DefaultCloseTimeout = 2 * time.Second

	// MinQueueBytes keeps every share able to hold at least one maximal line.
	MinQueueBytes = 64 << 10
	// MaxLineBytes is the longest line kept whole; longer ones are truncated.
	MaxLineBytes = 16 << 10
)

// Sink names, as Stats reports them.
const (
	SinkStderr = "stderr"
	SinkFile   = "file"
)

// Options configures New. The zero value is usable: Info level, text lines to
// os.Stderr, no file.
type Options struct {
	Level        hclog.Level   // default Info
	Stderr       io.Writer     // default os.Stderr; never made non-blocking, so it may wedge
	Dir          string        // when set, also write <Dir>/<FileName>, rotated by size
	FileName     string        // default "startd.log"
	FileMaxBytes int64         // rotate before the file would exceed this; default 16 MiB
	FileKeep     int           // rotated files kept (<name>.1 .. .N); default 3
	QueueBytes   int           // total memory budget; default 8 MiB, at least 64 KiB
	RingSize     int           // entries kept for server.logs; default 10,000 (fewer if their slots would pass half the ring's share)
	FollowQueue  int           // entries a follower may have waiting; default feed.DefaultSize
	JSON         bool          // hclog JSON lines on the sinks; the ring is always text
	StuckAfter   time.Duration // a write in progress this long, or drops this recent, mean degraded; default 5 s
	CloseTimeout time.Duration // how long Close waits for the sinks to flush; default 2 s
	Name         string        // name of the root logger
}

// Logging owns the root logger, its sinks and its ring. Create it with New and
// release it with Close.
type Logging struct {
	opts   Options
	root   hclog.InterceptLogger
	sinks  []*sink
	ring   *ring
	tee    *teeWriter
	closed sync.Once
	err    error
}

// New validates opts, opens the log file when Dir is set and starts one drain
// goroutine per sink.
func New(opts Options) (*Logging, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	total := int64(opts.QueueBytes)
	ringBudget := total / 4
	sinkBudget := total - ringBudget

	epoch := time.Now()
	var sinks []*sink
	if opts.Dir != "" {
		f, err := openRotatingFile(opts.Dir, opts.FileName, opts.FileMaxBytes, opts.FileKeep)
		if err != nil {
			return nil, err
		}
		stderrBudget := sinkBudget / 3
		sinks = append(sinks,
			newSink(SinkStderr, opts.Stderr, nil, stderrBudget, opts.JSON, epoch),
			newSink(SinkFile, f, f, sinkBudget-stderrBudget, opts.JSON, epoch))
	} else {
		sinks = append(sinks, newSink(SinkStderr, opts.Stderr, nil, sinkBudget, opts.JSON, epoch))
	}

	l := &Logging{opts: opts, sinks: sinks, ring: newRing(opts.RingSize, ringBudget)}
	l.tee = &teeWriter{sinks: sinks}
	l.root = hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:       opts.Name,
		Level:      opts.Level,
		Output:     l.tee,
		JSONFormat: opts.JSON,
	})
	l.root.RegisterSink(&ringAdapter{
		level: l.root.GetLevel,
		format: hclog.NewSinkAdapter(&hclog.LoggerOptions{
			Level:       hclog.Trace, // ringAdapter filters by the root's current level
			Output:      ringWriter{ring: l.ring},
			DisableTime: true,
		}),
	})
	for _, s := range sinks {
		go s.run()
	}
	return l, nil
}

func (o *Options) fill() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("logging: options: %s %v %s: %w", field, v, why, errdefs.ErrInvalidRequest)
	}
	switch {
	case o.Level == hclog.NoLevel:
		o.Level = hclog.Info
	case o.Level < hclog.NoLevel || o.Level > hclog.Off:
		return bad("Level", int(o.Level), "is not an hclog level")
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.FileName == "" {
		o.FileName = DefaultFileName
	} else if strings.ContainsRune(o.FileName, os.PathSeparator) || o.FileName == "." || o.FileName == ".." {
		return bad("FileName", fmt.Sprintf("%q", o.FileName), "must be a plain file name")
	}
	if o.FileMaxBytes < 0 {
		return bad("FileMaxBytes", o.FileMaxBytes, "is negative")
	} else if o.FileMaxBytes == 0 {
		o.FileMaxBytes = DefaultFileMaxBytes
	}
	if o.FileKeep < 0 {
		return bad("FileKeep", o.FileKeep, "is negative")
	} else if o.FileKeep == 0 {
		o.FileKeep = DefaultFileKeep
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = DefaultQueueBytes
	} else if o.QueueBytes < MinQueueBytes {
		return bad("QueueBytes", o.QueueBytes, fmt.Sprintf("is below the minimum %d", MinQueueBytes))
	}
	if o.RingSize < 0 {
		return bad("RingSize", o.RingSize, "is negative")
	} else if o.RingSize == 0 {
		o.RingSize = DefaultRingSize
	}
	if o.FollowQueue < 0 {
		return bad("FollowQueue", o.FollowQueue, "is negative")
	} else if o.FollowQueue == 0 {
		o.FollowQueue = feed.DefaultSize
	}
	if o.StuckAfter < 0 {
		return bad("StuckAfter", o.StuckAfter, "is negative")
	} else if o.StuckAfter == 0 {
		o.StuckAfter = DefaultStuckAfter
	}
	if o.CloseTimeout < 0 {
		return bad("CloseTimeout", o.CloseTimeout, "is negative")
	} else if o.CloseTimeout == 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	return nil
}

// Logger is the root logger. Packages derive theirs with Named("db") and
// With(...); all of them share the same sinks and ring.
func (l *Logging) Logger() hclog.Logger { return l.root }

// Stats reports each sink's counters and health, stderr first. It never waits
// on a sink's I/O, so the watchdog can call it while a sink is wedged.
func (l *Logging) Stats() []model.LogSinkStats {
	out := make([]model.LogSinkStats, len(l.sinks))
	for i, s := range l.sinks {
		out[i] = s.stats(l.opts.StuckAfter)
	}
	return out
}

// Entries returns one page of the ring, like StartOS server.logs: no cursor
// means the newest entries; with a cursor, the entries after it, or before it
// when p.Before is set. Pages are oldest first.
func (l *Logging) Entries(p model.LogsParams) (model.LogPage, error) {
	return l.ring.entries(p)
}

// Follow returns the newest entries (after p.Cursor when given) and a feed of
// every entry logged after them. A follower that falls behind is ended with
// feed.ErrFellBehind; it never slows a logger. The caller closes the feed when
// done; Close ends it with feed.ErrSourceClosed.
func (l *Logging) Follow(p model.LogsParams) (model.LogPage, *feed.Feed[model.LogEntry], error) {
	return l.ring.follow(p, l.opts.FollowQueue)
}

// Flush waits until every line accepted so far has been written or dropped,
// or until ctx ends.
func (l *Logging) Flush(ctx context.Context) error {
	for _, s := range l.sinks {
		select {
		case <-s.idleChan():
		case <-ctx.Done():
			return fmt.Errorf("logging: flush sink %s: %w", s.name, ctx.Err())
		}
	}
	return nil
}

// Close ends followers, stops accepting lines (later ones are counted as
// dropped) and lets each drain flush its queue, waiting at most CloseTimeout.
// A drain stuck in a write that never returns is abandoned: its goroutine
// stays parked in that write and exits, closing its output, if the write
// ever returns. Close is safe to call more than once.
func (l *Logging) Close() error {
	l.closed.Do(func() {
		l.ring.close()
		for _, s := range l.sinks {
			s.beginClose()
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.opts.CloseTimeout)
		defer cancel()
		var stuck []string
		for _, s := range l.sinks {
			select {
			case <-s.done:
			case <-ctx.Done():
				stuck = append(stuck, s.name)
			}
		}
		if len(stuck) > 0 {
			l.err = fmt.Errorf("logging: close: sinks %s did not flush within %s: %w",
				strings.Join(stuck, ", "), l.opts.CloseTimeout, errdefs.ErrTimeout)
		}
	})
	return l.err
}

// teeWriter is the Output of every logger: it copies the line once and offers
// it to each sink. It never blocks and never fails.
type teeWriter struct{ sinks []*sink }

func (w *teeWriter) Write(p []byte) (int, error) {
	line := copyLine(p)
	charge := int64(cap(line)+15)&^15 + itemOverhead
	for _, s := range w.sinks {
		s.offer(line, charge)
	}
	return len(p), nil
}

// copyLine copies p (hclog reuses its buffer once Write returns), truncating
// it to MaxLineBytes.
func copyLine(p []byte) []byte {
	if len(p) <= MaxLineBytes {
		return bytes.Clone(p)
	}
	suffix := fmt.Sprintf(" [truncated %d bytes]\n", len(p)-MaxLineBytes)
	line := make([]byte, 0, MaxLineBytes+len(suffix))
	line = append(line, p[:MaxLineBytes]...)
	return append(line, suffix...)
}

// ringAdapter receives every log call through hclog's intercept logger (under
// the intercept lock, so it must stay cheap) and formats it for the ring.
type ringAdapter struct {
	level  func() hclog.Level
	format hclog.SinkAdapter
}

func (a *ringAdapter) Accept(name string, level hclog.Level, msg string, args ...any) {
	if level < a.level() {
		return
	}
	a.format.Accept(name, level, msg, args...)
}

// ringWriter turns hclog's time-less text line "[INFO]  name: msg: k=v\n"
// into a ring entry "name: msg: k=v" at that level.
type ringWriter struct{ ring *ring }

func (w ringWriter) Write(p []byte) (int, error) { return w.LevelWrite(hclog.NoLevel, p) }

func (w ringWriter) LevelWrite(level hclog.Level, p []byte) (int, error) {
	now := time.Now().UTC()
	msg := p
	// hclog writes a 7-byte level bracket and a space ("[INFO] " + " ").
	if len(msg) >= 8 && msg[0] == '[' {
		msg = msg[8:]
	}
	// Multi-line values end in "\n  \n"; a ring entry needs no trailing space.
	msg = bytes.TrimRight(msg, " \n")
	var s string
	if len(msg) > MaxLineBytes {
		s = string(msg[:MaxLineBytes]) + fmt.Sprintf(" [truncated %d bytes]", len(msg)-MaxLineBytes)
	} else {
		s = string(msg)
	}
	w.ring.add(now, level, s)
	return len(p), nil
}
