package db

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/startos/model"
)

// logStats opens a closed state file and returns how many log entries it
// holds (head included) and the revision of its snapshot.
func logStats(t testing.TB, path string) (entries int, snapRev uint64) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.View(func(tx *bolt.Tx) error {
		entries = tx.Bucket(logBucket).Stats().KeyN + tx.Bucket(headBucket).Stats().KeyN
		l, err := load(tx, 0)
		if err == nil {
			snapRev = l.snapRev
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return entries, snapRev
}

// corruptLog overwrites the newest log entry of a closed state file.
func corruptLog(t testing.TB, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Update(func(tx *bolt.Tx) error {
		newest := tx.Bucket(headBucket)
		if newest.Stats().KeyN == 0 {
			newest = tx.Bucket(logBucket)
		}
		k, _ := newest.Cursor().Last()
		return newest.Put(append([]byte(nil), k...), []byte(`{"id":`))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// toFormat1 rewrites a closed state file as the build before the head wrote
// it: every revision in the log, no head bucket, format "1".
func toFormat1(t testing.TB, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Update(func(tx *bolt.Tx) error {
		log := tx.Bucket(logBucket)
		if err := tx.Bucket(headBucket).ForEach(func(k, v []byte) error {
			return log.Put(bytes.Clone(k), bytes.Clone(v))
		}); err != nil {
			return err
		}
		if err := tx.DeleteBucket(headBucket); err != nil {
			return err
		}
		return tx.Bucket(metaBucket).Put(formatKey, formatNoHead)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A file from the build before the head opens as it was (document and
// revision), gains a head, and goes on numbering from where it was.
func TestOpenUpgradesFormat1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path, Options{CompactEvery: 10, QueueSize: 16})
	for i := range 25 {
		mutate(t, s, setUI("n", i))
	}
	rev, before := dumpJSON(t, s, "/public")
	s.Close()
	if n, _ := logStats(t, path); n == 0 {
		t.Fatal("no log entries to carry over; the test proves nothing")
	}
	toFormat1(t, path)

	s = openAt(t, path, Options{CompactEvery: 10, QueueSize: 16})
	if rev2, after := dumpJSON(t, s, "/public"); rev2 != rev || after != before {
		t.Fatalf("after the upgrade: revision %d (want %d)\n%s\nwant\n%s", rev2, rev, after, before)
	}
	next := mutate(t, s, setUI("n", "next"))
	if next.ID != rev+1 {
		t.Fatalf("numbering after the upgrade: %d, want %d", next.ID, rev+1)
	}
	s.Close()
	s = openAt(t, path, Options{CompactEvery: 10, QueueSize: 16})
	if got := s.Revision(); got != next.ID {
		t.Fatalf("reopened at revision %d, want %d", got, next.ID)
	}
}

// A small revision is committed by rewriting one page besides bbolt's meta
// page: the head lives inside the root page, and only now and then moves
// its entries to the log (a leaf, a branch or two, and the root again).
func TestSmallCommitsWriteFewPages(t *testing.T) {
	s := openTemp(t, Options{})
	mutate(t, s, func(d *model.Document) error {
		d.Public.PackageData["bitcoind"] = model.PackageDataEntry{StateInfo: model.StateInfo{State: model.PackageInstalled}}
		return nil
	})
	const commits = 200
	for i := range 20 { // past the log's first leaf
		health(t, s, i)
	}
	before := pageWrites(s)
	for i := range commits {
		health(t, s, i)
	}
	pages := float64(pageWrites(s)-before) / commits
	// One page and the meta page per commit, and a move to the log every
	// few commits; an append to the log every commit writes four.
	if pages > 3 {
		t.Fatalf("%.2f pages written per small commit, want at most 3", pages)
	}
	t.Logf("%.2f pages written per small commit", pages)
}

func health(t testing.TB, s *Store, i int) {
	t.Helper()
	if _, err := s.MutatePackage(context.Background(), "bitcoind", func(e *model.PackageDataEntry) error {
		e.StatusInfo.Health = map[string]model.HealthCheckResult{"main": {Name: "main", Result: model.HealthSuccess, Message: strconv.Itoa(i)}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// pageWrites is how many pages bbolt has written since s was opened.
func pageWrites(s *Store) int64 {
	st := s.bolt.Stats()
	return st.TxStats.GetWrite()
}

// The pages bbolt writes next are never in a hole of the file (where a
// commit's fdatasync would also commit the filesystem's journal): zeros are
// written ahead of it as the log grows.
func TestStateFileReservedAhead(t *testing.T) {
	s := openTemp(t, Options{})
	value := strings.Repeat("x", 8<<10)
	for i := range 400 { // about 3 MB of log: several refills
		mutate(t, s, setUI("v", fmt.Sprint(i, value)))
		hw, err := highWater(s.bolt)
		if err != nil {
			t.Fatal(err)
		}
		hole, err := unix.Seek(int(s.reserve.file.Fd()), 0, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		if hole < hw+reserveLow/2 {
			t.Fatalf("commit %d: the file has a hole at %d, %d bytes past bbolt's high-water mark %d", i, hole, hole-hw, hw)
		}
	}
	if hw, _ := highWater(s.bolt); hw < 2*reserveAhead {
		t.Fatalf("the file grew to only %d bytes; the test proves little", hw)
	}
}
