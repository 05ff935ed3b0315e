package logging

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/startos-go/startos/startos/errdefs"
)

// rotatingFile is the file sink's output: <dir>/<name>, renamed to <name>.1
// (older ones shifted up to <name>.<keep>) when the next lines would take it
// past maxBytes. Only the file sink's drain goroutine uses it, so rotation
// never happens on a caller's path and needs no lock.
type rotatingFile struct {
	path     string
	maxBytes int64
	keep     int
	f        *os.File
	size     int64
}

func openRotatingFile(dir, name string, maxBytes int64, keep int) (*rotatingFile, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("logging: create log dir %s: %w: %w", dir, errdefs.ErrFilesystem, err)
	}
	r := &rotatingFile{path: filepath.Join(dir, name), maxBytes: maxBytes, keep: keep}
	f, size, err := openAppend(r.path)
	if err != nil {
		return nil, err
	}
	r.f, r.size = f, size
	return r, nil
}

func openAppend(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, 0, fmt.Errorf("logging: open log file %s: %w: %w", path, errdefs.ErrFilesystem, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("logging: stat log file %s: %w: %w", path, errdefs.ErrFilesystem, err)
	}
	return f, fi.Size(), nil
}

// Write writes p, which holds whole lines, rotating between lines when the
// file would grow past maxBytes. A line longer than maxBytes gets a file of
// its own. When rotation fails the old file keeps growing and the error is
// returned with the count of bytes written, so nothing is lost for it.
func (r *rotatingFile) Write(p []byte) (int, error) {
	written := 0
	var rotateErr error
	for len(p) > 0 {
		room := r.maxBytes - r.size
		if int64(len(p)) <= room || rotateErr != nil {
			n, err := r.f.Write(p)
			r.size += int64(n)
			return written + n, errors.Join(err, rotateErr)
		}
		// p does not fit: write the whole lines that do, then rotate.
		cut := 0
		if room > 0 {
			cut = bytes.LastIndexByte(p[:room], '\n') + 1
		}
		if cut == 0 && r.size == 0 {
			if cut = bytes.IndexByte(p, '\n') + 1; cut == 0 {
				cut = len(p)
			}
		}
		if cut == 0 {
			rotateErr = r.rotate()
			continue
		}
		n, err := r.f.Write(p[:cut])
		r.size += int64(n)
		written += n
		if err != nil {
			return written, err
		}
		p = p[cut:]
	}
	return written, rotateErr
}

// rotate shifts name.(keep-1) -> name.keep ... name -> name.1, then opens a
// fresh name. On failure the current file stays open and in use.
func (r *rotatingFile) rotate() error {
	for i := r.keep - 1; i >= 1; i-- {
		err := os.Rename(r.path+"."+strconv.Itoa(i), r.path+"."+strconv.Itoa(i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logging: rotate %s: %w", r.path, err)
		}
	}
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		return fmt.Errorf("logging: rotate %s: %w", r.path, err)
	}
	f, size, err := openAppend(r.path)
	if err != nil {
		// Keep writing to the renamed file rather than losing lines.
		return err
	}
	old := r.f
	r.f, r.size = f, size
	if err := old.Close(); err != nil {
		return fmt.Errorf("logging: close rotated %s: %w", r.path, err)
	}
	return nil
}

// Close syncs and closes the current file.
func (r *rotatingFile) Close() error {
	return errors.Join(r.f.Sync(), r.f.Close())
}
