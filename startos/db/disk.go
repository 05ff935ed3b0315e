package db

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/patch"
)

// On disk (one bbolt file):
//
//	meta      "format" = "2", "snapshotRevision" = revision of the snapshot
//	snapshot  "document" = the whole document as JSON at snapshotRevision
//	log       big-endian revision id -> model.Revision JSON
//	head      the newest log entries, in the same form
//
// The current document is the snapshot with every logged revision after it
// applied (log, then head), and the current revision is the newest logged
// one (or the snapshot's when none is newer). A commit touches only the
// head, and now and then the log. Compaction rewrites the snapshot and drops the log entries older than the
// previous snapshot, so the log always reaches back at least one compaction
// interval.
//
// The head keeps commits small: while it holds less than a quarter of a page,
// bbolt stores it inside the root page, so a commit of a small revision
// dirties that one page, where an append to the log (a tree thousands of
// entries long) rewrites a leaf, its branches and the root, and decodes each.
// When the head would outgrow that, its entries move to the log in the same
// transaction. Every head key is above every log key.
var (
	metaBucket     = []byte("meta")
	snapshotBucket = []byte("snapshot")
	logBucket      = []byte("log")
	headBucket     = []byte("head")

	formatKey   = []byte("format")
	snapRevKey  = []byte("snapshotRevision")
	documentKey = []byte("document")
	// Format 1 had no head; Open adds one (format 2 is format 1 plus a head
	// bucket). A build that reads only format 1 refuses format 2 rather than
	// miss the revisions in the head.
	currentFormat  = []byte("2")
	formatNoHead   = []byte("1")
	errCorruptFile = fmt.Errorf("state file is damaged: %w", errdefs.ErrFilesystem)
)

// maxHeadBytes is how large the head may grow, counted as bbolt counts a
// bucket it may store inline (a page header, and per entry an element header,
// key and value): a quarter of the page, beyond which bbolt gives the head a
// page of its own.
func maxHeadBytes(tx *bolt.Tx) int { return tx.DB().Info().PageSize / 4 }

const (
	pageHeaderBytes    = 16 // bbolt's page header
	leafElemHeaderSize = 16 // bbolt's leaf element header
)

func headEntryBytes(value []byte) int { return leafElemHeaderSize + 8 + len(value) }

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
	for _, name := range [][]byte{metaBucket, snapshotBucket, logBucket, headBucket} {
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

// needsUpgrade reports whether the file is in format 1, which upgrade
// converts.
func needsUpgrade(tx *bolt.Tx) bool {
	meta := tx.Bucket(metaBucket)
	return meta != nil && bytes.Equal(meta.Get(formatKey), formatNoHead)
}

// upgrade brings a format 1 file to the current format: an empty head.
func upgrade(tx *bolt.Tx) error {
	if !needsUpgrade(tx) {
		return nil
	}
	if _, err := tx.CreateBucketIfNotExists(headBucket); err != nil {
		return err
	}
	return tx.Bucket(metaBucket).Put(formatKey, currentFormat)
}

// load reads the snapshot and replays the log after it. keepRecent is how
// many of the newest revisions to return for subscribers catching up.
func load(tx *bolt.Tx, keepRecent int) (*loaded, error) {
	meta, snap, log, head := tx.Bucket(metaBucket), tx.Bucket(snapshotBucket), tx.Bucket(logBucket), tx.Bucket(headBucket)
	if meta == nil || snap == nil || log == nil {
		return nil, fmt.Errorf("missing bucket: %w", errCorruptFile)
	}
	if f := meta.Get(formatKey); string(f) != string(currentFormat) {
		return nil, fmt.Errorf("unknown format %q (this build reads %q): %w", f, currentFormat, errdefs.ErrFilesystem)
	}
	if head == nil {
		return nil, fmt.Errorf("missing bucket: %w", errCorruptFile)
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
	for _, b := range []*bolt.Bucket{log, head} {
		c := b.Cursor()
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
	}
	l.rev = want - 1
	l.tree = tree

	// The newest keepRecent entries, older ones than the snapshot included.
	var recent []model.Revision
	for _, b := range []*bolt.Bucket{head, log} {
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(recent) < keepRecent; k, v = c.Prev() {
			var r model.Revision
			if err := json.Unmarshal(v, &r); err != nil {
				return nil, fmt.Errorf("log entry %d is unreadable: %w", binary.BigEndian.Uint64(k), errCorruptFile)
			}
			recent = append(recent, r)
		}
	}
	slices.Reverse(recent)
	l.recent = recent
	return l, nil
}

// write logs revs and, when compact is set, makes snapRaw (the document at
// the last of revs) the new snapshot and drops the log entries at or before
// oldSnapRev.
func write(tx *bolt.Tx, revs []model.Revision, compact bool, snapRaw []byte, oldSnapRev uint64) error {
	head := tx.Bucket(headBucket)
	encoded := make([][]byte, len(revs))
	added := 0
	for i, r := range revs {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encoding revision %d: %w", r.ID, err)
		}
		encoded[i] = b
		added += headEntryBytes(b)
	}
	// The head's size, as bbolt will weigh it for inlining.
	size := pageHeaderBytes
	c := head.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		size += headEntryBytes(v)
	}
	limit := maxHeadBytes(tx)
	dest := head
	var log *bolt.Bucket // opened only when a commit reaches it
	if compact || size+added > limit {
		log = tx.Bucket(logBucket)
		// Keys only ever go on the log's end, so its pages may fill up:
		// bbolt's default splits them half full, doubling the file's growth.
		log.FillPercent = 1
		// Log keys stay below head keys: the head moves first, and revs go
		// to the log too when they alone would not stay inline.
		for k, v := c.First(); k != nil; k, v = c.First() {
			if err := log.Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		if compact || pageHeaderBytes+added > limit {
			dest = log
		}
	}
	for i, r := range revs {
		if err := dest.Put(revKey(r.ID), encoded[i]); err != nil {
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
