package container

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/startos-go/startos/startos/errdefs"
)

// LogLine is one line of a container's output.
type LogLine struct {
	Time   time.Time
	Stream string // stdout or stderr
	Text   string // without the trailing newline
}

// LogsOptions select container log lines. Since and Until are inclusive, as
// the engine applies them.
type LogsOptions struct {
	Since  time.Time
	Until  time.Time
	Tail   int // newest n lines; 0 means all
	Follow bool
}

// maxFrame bounds one multiplexed frame; the engine splits lines at 16 KiB.
const maxFrame = 1 << 20

// Logs streams a container's log lines to fn, oldest first, until the end
// (or, with Follow, until the container stops or ctx ends). Without Follow
// the call is bounded by the transfer timeout; with it, by ctx. An error
// from fn stops the stream and is returned.
func (c *Client) Logs(ctx context.Context, id string, o LogsOptions, fn func(LogLine) error) error {
	var cancel context.CancelFunc
	if o.Follow {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = c.transferCtx(ctx)
	}
	defer cancel()
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: o.Follow}
	if !o.Since.IsZero() {
		opts.Since = engineTimestamp(o.Since)
	}
	if !o.Until.IsZero() {
		opts.Until = engineTimestamp(o.Until)
	}
	if o.Tail > 0 {
		opts.Tail = fmt.Sprint(o.Tail)
	}
	rc, err := c.engine(ctx).ContainerLogs(ctx, id, opts)
	if err != nil {
		return c.wrap("logs of "+id, err)
	}
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	err = readFrames(bufio.NewReaderSize(rc, 64<<10), fn)
	if err != nil && ctx.Err() != nil && !o.Follow {
		return c.wrap("logs of "+id, ctx.Err())
	}
	if err != nil && ctx.Err() != nil {
		return nil // a follower that was cancelled ends quietly
	}
	return err
}

// engineTimestamp writes t as the engine's "seconds.nanoseconds" filter.
func engineTimestamp(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// readFrames reads the engine's multiplexed log stream, one log message per
// frame, each starting with its RFC 3339 timestamp.
func readFrames(r io.Reader, fn func(LogLine) error) error {
	return demux(r, func(stream byte, payload []byte) error {
		name := "stdout"
		if stream == streamStderr {
			name = "stderr"
		}
		line, ok := parseLogLine(string(payload), name)
		if !ok {
			return nil
		}
		return fn(line)
	})
}

// Streams of the engine's multiplexed output.
const (
	streamStdout = 1
	streamStderr = 2
	streamSystem = 3 // the engine's own error
)

// demux decodes the engine's multiplexed stream: an 8-byte header (stream,
// 0, 0, 0, big-endian size) then the payload. fn must not keep payload: its
// buffer is reused. Its buffer grows with the largest frame, up to maxFrame,
// rather than the fixed 32 KiB that stdcopy allocates each call (a cost
// every health check paid).
func demux(r io.Reader, fn func(stream byte, payload []byte) error) error {
	var hdr [8]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		size := binary.BigEndian.Uint32(hdr[4:])
		if size > maxFrame {
			return fmt.Errorf("output frame of %d bytes: %w", size, errdefs.ErrDocker)
		}
		buf = slices.Grow(buf[:0], int(size))[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		if hdr[0] == streamSystem {
			return fmt.Errorf("engine: %s: %w", buf, errdefs.ErrDocker)
		}
		if err := fn(hdr[0], buf); err != nil {
			return err
		}
	}
}

func parseLogLine(s, stream string) (LogLine, bool) {
	s = strings.TrimSuffix(s, "\n")
	ts, text, _ := strings.Cut(s, " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return LogLine{}, false
	}
	return LogLine{Time: t, Stream: stream, Text: text}, true
}
