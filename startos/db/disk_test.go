package db

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// logStats opens a closed state file and returns how many log entries it
// holds and the revision of its snapshot.
func logStats(t testing.TB, path string) (entries int, snapRev uint64) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.View(func(tx *bolt.Tx) error {
		entries = tx.Bucket(logBucket).Stats().KeyN
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
		k, _ := tx.Bucket(logBucket).Cursor().Last()
		return tx.Bucket(logBucket).Put(append([]byte(nil), k...), []byte(`{"id":`))
	})
	if err != nil {
		t.Fatal(err)
	}
}
