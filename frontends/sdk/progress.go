package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether w is a terminal, where progress redraws one
// line; elsewhere it prints a line now and then.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress reports a long step on stderr: a redrawn line on a terminal,
// otherwise a line every few seconds. It is used from one goroutine.
type progress struct {
	w        io.Writer
	tty      bool
	label    string
	total    int64 // 0 when unknown
	done     int64
	start    time.Time
	last     time.Time
	interval time.Duration
}

func newProgress(w io.Writer, label string, total int64) *progress {
	now := time.Now()
	p := &progress{w: w, tty: isTerminal(w), label: label, total: total, start: now, last: now}
	p.interval = 2 * time.Second
	if p.tty {
		p.interval = 100 * time.Millisecond
	}
	return p
}

func (p *progress) set(done int64) {
	p.done = done
	if now := time.Now(); now.Sub(p.last) >= p.interval {
		p.last = now
		p.draw(false)
	}
}

func (p *progress) add(n int64) { p.set(p.done + n) }

// finish prints the final state.
func (p *progress) finish() { p.draw(true) }

func (p *progress) draw(final bool) {
	elapsed := time.Since(p.start).Seconds()
	rate := ""
	if elapsed > 0.05 {
		rate = fmt.Sprintf(", %s/s", size(int64(float64(p.done)/elapsed)))
	}
	line := fmt.Sprintf("    %s: %s%s", p.label, size(p.done), rate)
	if p.total > 0 {
		frac := min(float64(p.done)/float64(p.total), 1)
		const width = 30
		filled := int(frac * width)
		if p.done >= p.total {
			filled = width
		}
		bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
		line = fmt.Sprintf("    %s [%s] %3.0f%% %s of %s%s", p.label, bar, frac*100, size(p.done), size(p.total), rate)
	}
	if final {
		line += fmt.Sprintf(" in %.1fs", elapsed)
	}
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}

// countingReader tells a progress how much has been read.
type countingReader struct {
	r io.ReadCloser
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	if err == io.EOF {
		c.p.finish()
	}
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// prefixWriter indents a child process's or the engine's output under the
// step that produced it.
type prefixWriter struct {
	w      io.Writer
	prefix string
	mid    bool // in the middle of a line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if !p.mid {
			out = append(out, p.prefix...)
			p.mid = true
		}
		out = append(out, c)
		if c == '\n' {
			p.mid = false
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
