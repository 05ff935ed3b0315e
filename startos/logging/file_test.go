package logging

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readRotated returns the contents of <path>.<keep> ... <path>.1, <path>,
// oldest first, and fails if <path>.<keep+1> exists.
func readRotated(t *testing.T, path string, keep int) []string {
	t.Helper()
	if _, err := os.Stat(path + "." + strconv.Itoa(keep+1)); err == nil {
		t.Errorf("%s.%d exists; only %d rotated files should be kept", path, keep+1, keep)
	}
	var files []string
	for i := keep; i >= 1; i-- {
		b, err := os.ReadFile(path + "." + strconv.Itoa(i))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, string(b))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return append(files, string(b))
}

func TestRotatingFile(t *testing.T) {
	line := func(i, size int) string {
		s := fmt.Sprintf("line %05d ", i)
		return s + strings.Repeat("x", size-len(s)-1) + "\n"
	}
	tests := []struct {
		name      string
		maxBytes  int64
		keep      int
		lines     int
		lineSize  int
		perWrite  int // lines per Write call; the drain hands over up to 64 KiB at once
		wantFiles int // files on disk, current included
		lost      int // oldest lines no longer on disk
	}{
		{"no rotation", 1000, 3, 10, 100, 1, 1, 0},
		{"exact fit stays", 1000, 3, 10, 100, 10, 1, 0},
		{"one line over rotates", 1000, 3, 11, 100, 1, 2, 0},
		{"batched writes split at lines", 1000, 3, 35, 100, 7, 4, 0},
		{"whole batch in one write", 1000, 3, 35, 100, 35, 4, 0},
		{"three 300-byte lines per file", 1000, 2, 21, 300, 4, 3, 12},
		{"oldest beyond keep are removed", 1000, 2, 50, 100, 5, 3, 20},
		{"keep one", 500, 1, 20, 100, 3, 2, 10},
		{"line longer than max gets its own file", 100, 3, 3, 250, 3, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rf, err := openRotatingFile(dir, "startd.log", tc.maxBytes, tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for i := 0; i < tc.lines; i += tc.perWrite {
				var chunk bytes.Buffer
				for j := i; j < min(i+tc.perWrite, tc.lines); j++ {
					l := line(j, tc.lineSize)
					all = append(all, l)
					chunk.WriteString(l)
				}
				n, err := rf.Write(chunk.Bytes())
				if err != nil || n != chunk.Len() {
					t.Fatalf("Write = %d, %v; want %d, nil", n, err, chunk.Len())
				}
			}
			if err := rf.Close(); err != nil {
				t.Fatal(err)
			}

			files := readRotated(t, filepath.Join(dir, "startd.log"), tc.keep)
			if len(files) != tc.wantFiles {
				t.Errorf("%d files on disk, want %d", len(files), tc.wantFiles)
			}
			for i, f := range files {
				if int64(len(f)) > tc.maxBytes && strings.Count(f, "\n") > 1 {
					t.Errorf("file %d holds %d bytes in several lines, over max %d", i, len(f), tc.maxBytes)
				}
				if f != "" && !strings.HasSuffix(f, "\n") {
					t.Errorf("file %d does not end at a line boundary", i)
				}
			}
			if got, want := strings.Join(files, ""), strings.Join(all[tc.lost:], ""); got != want {
				t.Errorf("content on disk differs from the last %d lines written:\ngot  %q\nwant %q", len(all)-tc.lost, got, want)
			}
		})
	}
}

func TestRotatingFileAppendsToExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "startd.log")
	if err := os.WriteFile(path, []byte(strings.Repeat("o", 95)+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	rf, err := openRotatingFile(dir, "startd.log", 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rf.Write([]byte("new line\n")); err != nil {
		t.Fatal(err)
	}
	rf.Close()
	files := readRotated(t, path, 3)
	if len(files) != 2 || !strings.HasPrefix(files[0], "ooo") || files[1] != "new line\n" {
		t.Errorf("existing size not honoured: %q", files)
	}
}

// When the rename fails the current file keeps growing and nothing is lost.
func TestRotatingFileRenameFailureKeepsWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "startd.log")
	// A non-empty directory where startd.log.1 should go: rename onto it fails.
	if err := os.MkdirAll(filepath.Join(path+".1", "blocker"), 0o750); err != nil {
		t.Fatal(err)
	}
	rf, err := openRotatingFile(dir, "startd.log", 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("0123456789abcdefghi\n", 5)
	n, err := rf.Write([]byte(want))
	if n != len(want) || err == nil || !strings.Contains(err.Error(), "rotate") {
		t.Fatalf("Write = %d, %v; want all %d bytes and a rotate error", n, err, len(want))
	}
	rf.Close()
	got, _ := os.ReadFile(path)
	if string(got) != want {
		t.Errorf("file holds %q, want every line", got)
	}
}

func TestOpenRotatingFileNamesTheProblem(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{Dir: filepath.Join(notDir, "logs")})
	if err == nil || !strings.Contains(err.Error(), notDir) {
		t.Fatalf("New with a file as log dir = %v, want an error naming %s", err, notDir)
	}
}

// End to end: lines logged through the file sink all land in the rotated files.
func TestFileSinkRotatesWithoutLoss(t *testing.T) {
	dir := t.TempDir()
	l, err := New(Options{Stderr: discard{}, Dir: dir, FileMaxBytes: 4096, FileKeep: 5})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		l.Logger().Info("rotating", "i", i)
	}
	flush(t, l)
	closeLogging(t, l)
	st := l.Stats()[1]
	if st.Written != n || st.Dropped != 0 {
		t.Fatalf("file sink: written=%d dropped=%d, want %d/0", st.Written, st.Dropped, n)
	}
	files := readRotated(t, filepath.Join(dir, DefaultFileName), 5)
	if len(files) < 3 {
		t.Fatalf("%d files; 200 lines over 4 KiB files should rotate", len(files))
	}
	all := strings.Join(files, "")
	for i := range n {
		if c := strings.Count(all, fmt.Sprintf("rotating: i=%d\n", i)); c != 1 {
			t.Fatalf("line %d appears %d times across the files", i, c)
		}
	}
	for i, f := range files {
		if len(f) > 4096 {
			t.Errorf("file %d is %d bytes, over 4096", i, len(f))
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
