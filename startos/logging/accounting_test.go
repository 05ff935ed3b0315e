package logging

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/model"
)

// Concurrent loggers against a slow stderr reader and a file sink: at every
// quiescent point each sink has enqueued == written + dropped, and what came
// out matches: written lines appear, dropped ones are announced by markers.
func TestAccountingIsExactUnderConcurrentLoggers(t *testing.T) {
	r, w := smallPipe(t)
	dir := t.TempDir()
	l, err := New(Options{Stderr: w, Dir: dir, QueueBytes: MinQueueBytes, FileMaxBytes: 256 << 10, FileKeep: 50})
	if err != nil {
		t.Fatal(err)
	}
	rd := startReader(r, 5*time.Millisecond)

	const loggers, each = 8, 1500
	var total uint64
	check := func(round int) []model.LogSinkStats {
		t.Helper()
		flush(t, l)
		st := l.Stats()
		for _, s := range st {
			if s.Enqueued != total {
				t.Errorf("round %d: %s enqueued %d, want %d", round, s.Name, s.Enqueued, total)
			}
			if s.Enqueued != s.Written+s.Dropped || s.QueuedBytes != 0 {
				t.Errorf("round %d: %s enqueued=%d written=%d dropped=%d queuedBytes=%d",
					round, s.Name, s.Enqueued, s.Written, s.Dropped, s.QueuedBytes)
			}
		}
		return st
	}
	for round := range 2 {
		var wg sync.WaitGroup
		for g := range loggers {
			wg.Go(func() {
				log := l.Logger().Named("worker").With("g", g, "round", round)
				for i := range each {
					log.Info("working", "i", i)
				}
			})
		}
		wg.Wait()
		total += loggers * each
		check(round)
	}
	st := check(2)
	if st[0].Dropped == 0 {
		t.Error("the slow stderr reader never made the sink drop; the test proves nothing")
	}

	closeLogging(t, l)
	w.Close()
	lines, markers, dropped := countLines(t, rd.wait(t))
	if uint64(lines) != st[0].Written || dropped != st[0].Dropped || markers == 0 {
		t.Errorf("stderr output: %d lines and %d markers announcing %d dropped; stats: written=%d dropped=%d",
			lines, markers, dropped, st[0].Written, st[0].Dropped)
	}

	var fileOut strings.Builder
	matches, _ := filepath.Glob(filepath.Join(dir, DefaultFileName+"*"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		fileOut.Write(b)
	}
	lines, _, dropped = countLines(t, fileOut.String())
	if uint64(lines) != st[1].Written || dropped != st[1].Dropped {
		t.Errorf("file output: %d lines, markers announce %d dropped; stats: written=%d dropped=%d",
			lines, dropped, st[1].Written, st[1].Dropped)
	}
}
