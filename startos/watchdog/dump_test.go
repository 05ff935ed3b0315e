package watchdog

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/golden"
	"github.com/startos-go/startos/startos/model"
)

func TestDumpHeaderGolden(t *testing.T) {
	h := dumpHeader{
		reason:     `megamiss: probe "pkg-lock" has not succeeded for longer than its megamiss threshold`,
		time:       time.Date(2026, 5, 1, 12, 0, 6, 0, time.UTC),
		pid:        4242,
		goroutines: 57,
		probes: []model.ProbeStatus{
			{Name: "scheduler", Kind: "probe", Severity: "fatal", State: "ok", LastSuccessAgeMs: 412},
			{Name: "pkg-lock", Kind: "mutex", Severity: "fatal", State: "megamiss", LastSuccessAgeMs: 6012, Misses: 1, Megamisses: 1,
				LastError: `lock "pkg-lock" held by goroutine 42 (startos.(*Server).install) for 6s`, Detail: "held by goroutine 42 (startos.(*Server).install) for 6.012s"},
			{Name: "sink:stderr", Kind: "probe", Severity: "degraded", State: "miss", LastSuccessAgeMs: 2500, Misses: 3, InFlightMs: 2500},
		},
		holders: []holderInfo{{lock: "pkg-lock", goid: 42, held: 6012 * time.Millisecond,
			stack: "    startos.(*Server).install\n    \t/src/startos/install.go:88\n"}},
	}
	var b bytes.Buffer
	h.write(&b)
	goldenFile := filepath.Join("testdata", "header.golden")
	want := golden.Read(t, goldenFile, b.Bytes())
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("header differs from %s (run with -update):\n%s", goldenFile, b.String())
	}
}

// Dumps carry both sections and the caller's evidence; the folder stays
// under its cap by removing the oldest; the newest is kept even alone over it.
func TestDumpFolderCap(t *testing.T) {
	pad := strings.Repeat("log line\n", 100<<10/9) // ~100 KiB of evidence per dump
	cfg := fastConfig(t)
	cfg.MaxDirBytes = 250 << 10
	cfg.Evidence = func(w io.Writer) { io.WriteString(w, pad) }
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var paths []string
	for i := range 5 {
		p, err := w.Dump("test " + string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	onDisk := dumpFiles(t, cfg.Dir)
	var total int64
	for _, f := range onDisk {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	if len(onDisk) != 2 || total > cfg.MaxDirBytes || !slices.Equal(onDisk, paths[3:]) {
		t.Fatalf("on disk %v (%d bytes), want the newest two of %v under %d bytes", onDisk, total, paths, cfg.MaxDirBytes)
	}
	st := w.Status()
	if len(st.Dumps) != 2 || st.Dumps[1].Name != filepath.Base(paths[4]) || st.Dumps[1].Reason != "manual: test e" {
		t.Fatalf("status dumps %+v", st.Dumps)
	}
	b, err := os.ReadFile(paths[4])
	if err != nil {
		t.Fatal(err)
	}
	d := string(b)
	i1 := strings.Index(d, "=== goroutines grouped by stack")
	i2 := strings.Index(d, "=== all goroutines")
	i3 := strings.Index(d, "=== evidence ===\nlog line")
	if !strings.HasPrefix(d, headerLine+"manual: test e\n") || i1 < 0 || i2 < i1 || i3 < i2 {
		t.Fatalf("dump sections out of order or missing: header %q, grouped %d, full %d, evidence %d", d[:40], i1, i2, i3)
	}
	if int64(len(b)) != st.Dumps[1].Size {
		t.Fatalf("size %d in status, %d on disk", st.Dumps[1].Size, len(b))
	}
	if got := len(dumpFiles(t, cfg.Dir)); got != 2 {
		t.Fatal(got)
	}
	// The spare file is ready for the next dump, and only one.
	if sp, _ := filepath.Glob(filepath.Join(cfg.Dir, pendingPrefix+"*")); len(sp) > 1 {
		t.Fatalf("pending files %v", sp)
	}
}

func TestDumpAloneOverCapIsKept(t *testing.T) {
	cfg := fastConfig(t)
	cfg.MaxDirBytes = 1
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for range 3 {
		if _, err := w.Dump("x"); err != nil {
			t.Fatal(err)
		}
	}
	if got := dumpFiles(t, cfg.Dir); len(got) != 1 {
		t.Fatalf("%v, want only the newest", got)
	}
}

func TestDumpCapsFullSection(t *testing.T) {
	cfg := fastConfig(t)
	cfg.MaxDumpBytes = 1000
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p, err := w.Dump("small")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	full := string(b[strings.Index(string(b), "=== all goroutines"):])
	if !strings.Contains(full, "... truncated at 1000 bytes") || len(full) > 1200 {
		t.Fatalf("full section %d bytes, not cut at 1000", len(full))
	}
}

// New lists the dumps an earlier run left (with their reasons) and removes
// the pre-opened files of processes that are gone; Close removes its own.
func TestDumpFolderAtStart(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "dump-20260101T000000.000Z-99.1-kill.txt")
	if err := os.WriteFile(old, []byte(headerLine+"kill: probe \"rpc\" stalled\nrest"), 0o600); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, pendingPrefix+"999999999-3")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(t)
	cfg.Dir = dir
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale pending file of a dead process kept: %v", err)
	}
	st := w.Status()
	if len(st.Dumps) != 1 || st.Dumps[0].Reason != `kill: probe "rpc" stalled` {
		t.Fatalf("dumps %+v", st.Dumps)
	}
	mine, _ := filepath.Glob(filepath.Join(dir, pendingPrefix+"*"))
	if len(mine) != 1 {
		t.Fatalf("pre-opened files %v, want one", mine)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, pendingPrefix+"*")); len(left) != 0 {
		t.Fatalf("Close left %v", left)
	}
}
