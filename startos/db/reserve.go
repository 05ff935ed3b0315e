package db

import (
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// The state file is kept ahead of bbolt with written zeros. bbolt grows its
// file by truncating it larger, which leaves a hole; a commit whose new page
// lands in a hole makes the filesystem allocate a block, and its fdatasync
// then commits the filesystem's journal too, not just the data (on ext4
// here: 250 us instead of 175). While the log grows, one commit in twenty-five
// did. With the zeros written beforehand, once per reserveAhead of growth and
// with one fsync, commits only overwrite blocks the file already has.
//
// The zeros go past bbolt's high-water mark (its meta page's page count),
// which no page in use reaches, and only while no write transaction runs
// (the committer holds commitMu), so they never touch data. A crash while
// writing them leaves zeros or a hole past the mark, as bbolt's own growth
// does.
const (
	reserveAhead = 1 << 20   // zeros written past the high-water mark
	reserveLow   = 256 << 10 // refill when the mark comes this close to their end
)

var zeros = make([]byte, 64<<10)

// reserve is the file handle the zeros are written through and how far
// they reach.
type reserve struct {
	file   *os.File
	zeroed int64 // every block below this offset is written; committer only
}

// openReserve opens path for the zeros, finds where the written blocks past
// the high-water mark end (where the first hole is) and reserves what is
// missing.
func (s *Store) openReserve(path string) (*reserve, error) {
	hw, err := highWater(s.bolt)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	r := &reserve{file: f, zeroed: hw}
	if hole, err := unix.Seek(int(f.Fd()), hw, unix.SEEK_HOLE); err == nil {
		r.zeroed = hole
	}
	s.keepAhead(r, hw)
	return r, nil
}

// keepAhead is r.keepAhead; failing costs only speed, so it is logged.
func (s *Store) keepAhead(r *reserve, seen int64) {
	if err := r.keepAhead(s.bolt, seen); err != nil {
		s.log.Warn("could not reserve space in the state file; commits may be slower", "error", err)
	}
}

// highWater is the end of the pages bbolt uses.
func highWater(b *bolt.DB) (int64, error) {
	var hw int64
	err := b.View(func(tx *bolt.Tx) error {
		hw = tx.Size()
		return nil
	})
	return hw, err
}

// keepAhead writes zeros up to reserveAhead past the high-water mark when
// the mark, last seen at seen, has come within reserveLow of their end.
func (r *reserve) keepAhead(b *bolt.DB, seen int64) error {
	if seen+reserveLow <= r.zeroed {
		return nil
	}
	hw, err := highWater(b) // seen was before the last commit's new pages
	if err != nil {
		return err
	}
	end := hw + reserveAhead
	if end <= r.zeroed {
		return nil
	}
	for off := max(hw, r.zeroed); off < end; off += int64(len(zeros)) {
		if _, err := r.file.WriteAt(zeros[:min(int64(len(zeros)), end-off)], off); err != nil {
			return fmt.Errorf("reserving space past %d: %w", hw, err)
		}
	}
	if err := r.file.Sync(); err != nil {
		return fmt.Errorf("reserving space past %d: %w", hw, err)
	}
	r.zeroed = end
	return nil
}

func (r *reserve) close() error { return r.file.Close() }
