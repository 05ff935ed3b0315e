package watchdog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// Dump kinds, the last part of a dump's file name.
const (
	dumpMegamiss = "megamiss"
	dumpKill     = "kill"
	dumpSignal   = "signal"
	dumpManual   = "manual"
)

const (
	dumpPrefix    = "dump-"
	dumpSuffix    = ".txt"
	pendingPrefix = ".pending-"
	headerLine    = "startos watchdog dump: "
)

// spareFile is a dump file opened ahead of time, so that a process that has
// run out of file descriptors can still write its dump.
type spareFile struct {
	f    *os.File
	path string
}

// refillSpare pre-opens the next dump file unless one is waiting.
func (w *Watchdog) refillSpare() error {
	if w.spare.Load() != nil {
		return nil
	}
	sp, err := w.openPending()
	if err != nil {
		return err
	}
	if !w.spare.CompareAndSwap(nil, sp) {
		sp.f.Close()
		os.Remove(sp.path)
	}
	return nil
}

func (w *Watchdog) openPending() (*spareFile, error) {
	w.mu.Lock()
	w.dumpSeq++
	seq := w.dumpSeq
	w.mu.Unlock()
	path := filepath.Join(w.cfg.Dir, fmt.Sprintf("%s%d-%d", pendingPrefix, w.pid, seq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("watchdog: pre-opening dump file: %w: %w", errdefs.ErrFilesystem, err)
	}
	return &spareFile{f: f, path: path}, nil
}

// takeSpare hands the pre-opened file to one dump; a second dump at the same
// time opens its own.
func (w *Watchdog) takeSpare() (*spareFile, error) {
	if sp := w.spare.Swap(nil); sp != nil {
		return sp, nil
	}
	return w.openPending()
}

func (w *Watchdog) closeSpare() {
	if sp := w.spare.Swap(nil); sp != nil {
		sp.f.Close()
		os.Remove(sp.path)
	}
}

// dumper writes megamiss dumps (so the monitor never waits on the disk) and
// keeps a spare file open.
func (w *Watchdog) dumper() {
	defer w.wg.Done()
	spareFailing := false
	for {
		select {
		case <-w.stop:
			return
		case <-w.refillKick:
			// Retried every tick while it fails (out of fds, say); said once.
			err := w.refillSpare()
			if err != nil && !spareFailing {
				w.emit(event{kind: evDumpFailed, dumpKind: "spare", err: err})
			}
			spareFailing = err != nil
		case <-w.dumpKick:
			w.mu.Lock()
			probes := w.pendingDump
			w.pendingDump = nil
			w.mu.Unlock()
			if len(probes) == 0 {
				continue
			}
			reason := "megamiss: probe " + quoteList(probes) + " has not succeeded for longer than its megamiss threshold"
			if len(probes) > 1 {
				reason = "megamiss: probes " + quoteList(probes) + " have not succeeded for longer than their megamiss thresholds"
			}
			info, err := w.writeDump(dumpMegamiss, reason, nil)
			if err != nil {
				w.emit(event{kind: evDumpFailed, dumpKind: dumpMegamiss, probes: probes, err: err})
				continue
			}
			w.emit(event{kind: evDumpWritten, dumpKind: dumpMegamiss, probes: probes, path: filepath.Join(w.cfg.Dir, info.Name)})
		}
	}
}

// Dump writes a goroutine dump now and returns its path. It is not subject
// to the hourly limit. SIGUSR1 uses it (see HandleSignals).
func (w *Watchdog) Dump(reason string) (path string, err error) {
	return w.dumpNow(dumpManual, reason)
}

func (w *Watchdog) dumpNow(kind, reason string) (string, error) {
	if w == nil {
		return "", fmt.Errorf("watchdog: no watchdog configured: %w", errdefs.ErrUnavailable)
	}
	if strings.TrimSpace(reason) == "" {
		reason = "requested"
	}
	info, err := w.writeDump(kind, kind+": "+reason, nil)
	if err != nil {
		w.emit(event{kind: evDumpFailed, dumpKind: kind, err: err})
		return "", err
	}
	path := filepath.Join(w.cfg.Dir, info.Name)
	w.emit(event{kind: evDumpWritten, dumpKind: kind, path: path})
	return path, nil
}

// writeDump writes one dump into a pending file, syncs it and renames it to
// its final name. With keep set, the kill path receives the open file (so
// fd 2 can point at it) through keep before the writing starts.
func (w *Watchdog) writeDump(kind, reason string, keep chan<- *os.File) (model.DumpInfo, error) {
	sp, err := w.takeSpare()
	if keep != nil {
		if sp != nil {
			keep <- sp.f
		} else {
			keep <- nil
		}
	}
	if err != nil {
		return model.DumpInfo{}, err
	}
	now := w.clock.Now()
	cw := &countWriter{w: sp.f}
	werr := w.renderDump(cw, reason, now)
	if err := sp.f.Sync(); err != nil && werr == nil {
		werr = err
	}
	if keep == nil {
		if err := sp.f.Close(); err != nil && werr == nil {
			werr = err
		}
	}
	w.mu.Lock()
	w.dumpSeq++
	seq := w.dumpSeq
	w.mu.Unlock()
	name := fmt.Sprintf("%s%s-%d.%d-%s%s", dumpPrefix, now.UTC().Format("20060102T150405.000Z"), w.pid, seq, kind, dumpSuffix)
	if err := os.Rename(sp.path, filepath.Join(w.cfg.Dir, name)); err != nil {
		os.Remove(sp.path)
		return model.DumpInfo{}, fmt.Errorf("watchdog: naming dump: %w: %w", errdefs.ErrFilesystem, err)
	}
	info := model.DumpInfo{Name: name, Size: cw.n, Time: now, Reason: reason}
	w.addDump(info)
	if werr != nil {
		return info, fmt.Errorf("watchdog: writing dump %s: %w: %w", name, errdefs.ErrFilesystem, werr)
	}
	if keep == nil {
		kick(w.refillKick)
	}
	return info, nil
}

// renderDump writes the header, then the goroutines grouped by identical
// stack (cheap, and what a reader wants first), then every goroutine in full
// (capped), then the caller's evidence.
func (w *Watchdog) renderDump(out io.Writer, reason string, now time.Time) error {
	bw := bufio.NewWriterSize(out, 64<<10)
	w.writeHeader(bw, reason, now)
	fmt.Fprintf(bw, "\n=== goroutines grouped by stack (pprof goroutine debug=1) ===\n")
	if err := pprof.Lookup("goroutine").WriteTo(bw, 1); err != nil {
		return err
	}
	fmt.Fprintf(bw, "\n=== all goroutines (pprof goroutine debug=2, first %d bytes) ===\n", w.cfg.MaxDumpBytes)
	lw := &limitWriter{w: bw, left: w.cfg.MaxDumpBytes}
	if err := pprof.Lookup("goroutine").WriteTo(lw, 2); err != nil {
		return err
	}
	if lw.cut {
		fmt.Fprintf(bw, "\n... truncated at %d bytes\n", w.cfg.MaxDumpBytes)
	}
	if w.cfg.Evidence != nil {
		fmt.Fprintf(bw, "\n=== evidence ===\n")
		bw.Flush()
		w.cfg.Evidence(out)
	}
	return bw.Flush()
}

// dumpHeader is what a dump says before the goroutines: the reason, every
// probe and who holds each watched lock.
type dumpHeader struct {
	reason     string
	time       time.Time
	pid        int
	goroutines int
	probes     []model.ProbeStatus
	holders    []holderInfo
}

type holderInfo struct {
	lock  string
	goid  uint64
	held  time.Duration
	stack string
}

func (w *Watchdog) writeHeader(out io.Writer, reason string, now time.Time) {
	st := w.Status()
	h := dumpHeader{reason: reason, time: now, pid: w.pid, goroutines: runtime.NumGoroutine(), probes: st.Probes}
	wnow := w.now()
	w.mu.Lock()
	var held []*lockHolder
	var names []string
	for _, e := range w.entries {
		if e.holder != nil {
			if lh := e.holder(); lh != nil {
				held = append(held, lh)
				names = append(names, e.name)
			}
		}
	}
	w.mu.Unlock()
	for i, lh := range held {
		h.holders = append(h.holders, holderInfo{lock: names[i], goid: lh.goid, held: time.Duration(wnow - lh.since), stack: lh.stack("    ")})
	}
	h.write(out)
}

func (h dumpHeader) write(out io.Writer) {
	fmt.Fprintf(out, "%s%s\n", headerLine, h.reason)
	fmt.Fprintf(out, "time: %s\npid: %d\ngoroutines: %d\n", h.time.UTC().Format(time.RFC3339Nano), h.pid, h.goroutines)
	fmt.Fprintf(out, "\nprobes:\n")
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  NAME\tKIND\tSEVERITY\tSTATE\tLAST OK\tMISSES\tMEGAMISSES\tDETAIL\n")
	for _, p := range h.probes {
		detail := p.Detail
		if p.LastError != "" {
			if detail != "" {
				detail += "; "
			}
			detail += "last error: " + p.LastError
		}
		if p.InFlightMs > 0 {
			if detail != "" {
				detail += "; "
			}
			detail += fmt.Sprintf("check running for %dms", p.InFlightMs)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s ago\t%d\t%d\t%s\n", p.Name, p.Kind, p.Severity, p.State,
			(time.Duration(p.LastSuccessAgeMs) * time.Millisecond).String(), p.Misses, p.Megamisses, detail)
	}
	tw.Flush()
	for line := range strings.Lines(table.String()) {
		_, _ = io.WriteString(out, strings.TrimRight(line, " \n")+"\n")
	}
	if len(h.holders) > 0 {
		fmt.Fprintf(out, "\nlock holders (the goroutine that called Lock, and where):\n")
		for _, lh := range h.holders {
			fmt.Fprintf(out, "  %s: goroutine %d, held for %s, locked at:\n%s", lh.lock, lh.goid, lh.held.Round(time.Millisecond), lh.stack)
		}
	}
}

// addDump records a new dump and removes the oldest ones while the folder is
// over its cap; the newest dump is always kept.
func (w *Watchdog) addDump(info model.DumpInfo) {
	w.mu.Lock()
	w.dumps = append(w.dumps, info)
	sortDumps(w.dumps)
	var total int64
	for _, d := range w.dumps {
		total += d.Size
	}
	var drop []string
	for total > w.cfg.MaxDirBytes && len(w.dumps) > 1 {
		total -= w.dumps[0].Size
		drop = append(drop, w.dumps[0].Name)
		w.dumps = w.dumps[1:]
	}
	w.dumps = slices.Clip(w.dumps)
	w.mu.Unlock()
	for _, name := range drop {
		if err := os.Remove(filepath.Join(w.cfg.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.emit(event{kind: evDumpFailed, dumpKind: "cleanup", err: err})
		}
	}
}

func sortDumps(d []model.DumpInfo) {
	slices.SortStableFunc(d, func(a, b model.DumpInfo) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// scanDumps lists the dumps earlier runs left and removes the pending files
// of processes that no longer exist.
func (w *Watchdog) scanDumps() []model.DumpInfo {
	ents, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		return nil
	}
	var dumps []model.DumpInfo
	for _, de := range ents {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, pendingPrefix):
			pid, _, _ := strings.Cut(strings.TrimPrefix(name, pendingPrefix), "-")
			if p, err := strconv.Atoi(pid); err == nil && p != w.pid && unix.Kill(p, 0) == unix.ESRCH {
				os.Remove(filepath.Join(w.cfg.Dir, name))
			}
		case strings.HasPrefix(name, dumpPrefix) && strings.HasSuffix(name, dumpSuffix):
			fi, err := de.Info()
			if err != nil {
				continue
			}
			dumps = append(dumps, model.DumpInfo{Name: name, Size: fi.Size(), Time: fi.ModTime(), Reason: readReason(filepath.Join(w.cfg.Dir, name))})
		}
	}
	sortDumps(dumps)
	return dumps
}

func readReason(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, _ := io.ReadFull(f, buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	return strings.TrimPrefix(line, headerLine)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// limitWriter passes on at most left bytes and swallows the rest, so a huge
// goroutine dump is cut rather than failed.
type limitWriter struct {
	w    io.Writer
	left int64
	cut  bool
}

func (l *limitWriter) Write(p []byte) (int, error) {
	n := len(p)
	if int64(len(p)) > l.left {
		p = p[:l.left]
		l.cut = true
	}
	l.left -= int64(len(p))
	if len(p) > 0 {
		if _, err := l.w.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}
