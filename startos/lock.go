package startos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrDataDirInUse means another daemon holds the data directory's lock.
var ErrDataDirInUse = errors.New("data dir is in use")

// lockFileName sits in the data directory, so the rule is one daemon per data
// directory whatever run directory each is given.
const lockFileName = "startd.lock"

type dirLock struct{ f *os.File }

// lockDir takes an exclusive, non-blocking flock on the data directory's lock
// file and writes our pid into it. The kernel drops the lock when the process
// dies, so a crash never leaves a stale lock behind.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("startos: open lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("startos: %w: %s is locked by startd pid %s", ErrDataDirInUse, dir, pid)
		}
		return nil, fmt.Errorf("startos: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("startos: write lock %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("startos: write lock %s: %w", path, err)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() error {
	// Leave the file: removing it would race a second daemon that already
	// opened it and is about to lock it.
	return l.f.Close()
}
