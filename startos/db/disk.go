package db

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/patch"
)

// On disk (one bbolt file):
//
//	meta      "format" = "1", "snapshotRevision" = revision of the snapshot
//	snapshot  "document" = the whole document as JSON at snapshotRevision
//	log       big-endian revision id -> model.Revision JSON
//
// The current document is the snapshot with every logged revision after it
// applied, and the current revision is the newest logged one (or the
// snapshot's when none is newer). A commit touches only the log. Compaction rewrites the snapshot and drops the log entries older
// than the previous snapshot, so the log always reaches back at least one
// compaction interval.
var (
	metaBucket     = []byte("meta")
	snapshotBucket = []byte("snapshot")
	logBucket      = []byte("log")

	formatKey      = []byte("format")
	snapRevKey     = []byte("snapshotRevision")
	documentKey    = []byte("document")
	currentFormat  = []byte("1")
	errCorruptFile = fmt.Errorf("state file is damaged: %w", errdefs.ErrFilesystem)
)

func revKey(id uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return b[:]
}

// loaded is what Open reads from disk.
type loaded struct {
	rev     uint64
	snapRev uint64
	tree    any              // the current document, decoded
	recent  []model.Revision // the newest logged revisions, oldest first
}

// initialize writes an empty document at revision 0 into a new file.
func initialize(tx *bolt.Tx, raw []byte) error {
	for _, name := range [][]byte{metaBucket, snapshotBucket, logBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(metaBucket)
	if err := meta.Put(formatKey, currentFormat); err != nil {
		return err
	}
	if err := meta.Put(snapRevKey, revKey(0)); err != nil {
		return err
	}
	return tx.Bucket(snapshotBucket).Put(documentKey, raw)
}

// load reads the snapshot and replays the log after it. keepRecent is how
// many of the newest revisions to return for subscribers catching up.
func load(tx *bolt.Tx, keepRecent int) (*loaded, error) {
	meta, snap, log := tx.Bucket(metaBucket), tx.Bucket(snapshotBucket), tx.Bucket(logBucket)
	if meta == nil || snap == nil || log == nil {
		return nil, fmt.Errorf("missing bucket: %w", errCorruptFile)
	}
	if f := meta.Get(formatKey); string(f) != string(currentFormat) {
		return nil, fmt.Errorf("unknown format %q (this build reads %q): %w", f, currentFormat, errdefs.ErrFilesystem)
	}
	sk := meta.Get(snapRevKey)
	if len(sk) != 8 {
		return nil, fmt.Errorf("bad snapshot revision record: %w", errCorruptFile)
	}
	l := &loaded{snapRev: binary.BigEndian.Uint64(sk)}
	raw := snap.Get(documentKey)
	if raw == nil {
		return nil, fmt.Errorf("missing snapshot: %w", errCorruptFile)
	}
	tree, err := patch.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w: %w", err, errCorruptFile)
	}
	want := l.snapRev + 1
	c := log.Cursor()
	for k, v := c.Seek(revKey(want)); k != nil; k, v = c.Next() {
		id := binary.BigEndian.Uint64(k)
		if id != want {
			return nil, fmt.Errorf("log jumps from revision %d to %d: %w", want-1, id, errCorruptFile)
		}
		var r model.Revision
		if err := json.Unmarshal(v, &r); err != nil || r.ID != id {
			return nil, fmt.Errorf("log entry %d is unreadable: %w", id, errCorruptFile)
		}
		if tree, err = patch.Apply(tree, r.Patch); err != nil {
			return nil, fmt.Errorf("log entry %d does not apply: %w: %w", id, err, errCorruptFile)
		}
		want++
	}
	l.rev = want - 1
	l.tree = tree

	// The newest keepRecent entries, older ones than the snapshot included.
	var recent []model.Revision
	for k, v := c.Last(); k != nil && len(recent) < keepRecent; k, v = c.Prev() {
		var r model.Revision
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("log entry %d is unreadable: %w", binary.BigEndian.Uint64(k), errCorruptFile)
		}
		recent = append(recent, r)
	}
	for i, j := 0, len(recent)-1; i < j; i, j = i+1, j-1 {
		recent[i], recent[j] = recent[j], recent[i]
	}
	l.recent = recent
	return l, nil
}

// write appends revs to the log and, when compact is set, makes snapRaw (the
// document at the last of revs) the new snapshot and drops the log entries at
// or before oldSnapRev.
func write(tx *bolt.Tx, revs []model.Revision, compact bool, snapRaw []byte, oldSnapRev uint64) error {
	log := tx.Bucket(logBucket)
	for _, r := range revs {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encoding revision %d: %w", r.ID, err)
		}
		if err := log.Put(revKey(r.ID), b); err != nil {
			return err
		}
	}
	if !compact {
		return nil
	}
	last := revs[len(revs)-1].ID
	if err := tx.Bucket(snapshotBucket).Put(documentKey, snapRaw); err != nil {
		return err
	}
	if err := tx.Bucket(metaBucket).Put(snapRevKey, revKey(last)); err != nil {
		return err
	}
	// The keys first, then the deletes: a cursor's First after a Delete
	// walks every leaf emptied so far, which made a compaction quadratic.
	var old [][]byte
	lc := log.Cursor()
	for k, _ := lc.First(); k != nil && binary.BigEndian.Uint64(k) <= oldSnapRev; k, _ = lc.Next() {
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
