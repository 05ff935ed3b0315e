package s9pk

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
)

// Source supplies a file's contents when the archive is written. Its size need
// not be known beforehand: an image can stream straight from the engine.
type Source interface {
	Open() (io.ReadCloser, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func() (io.ReadCloser, error)

// Open calls f.
func (f SourceFunc) Open() (io.ReadCloser, error) { return f() }

// BytesSource is a Source holding data in memory.
func BytesSource(data []byte) Source {
	return SourceFunc(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// FileSource is a Source reading a file on disk.
func FileSource(name string) Source {
	return SourceFunc(func() (io.ReadCloser, error) { return os.Open(name) })
}

// Builder collects the files of an archive; WriteTo lays them out and signs.
type Builder struct {
	root *bnode
}

type bnode struct {
	name     string
	children map[string]*bnode // directories
	src      Source            // files

	// filled in by WriteTo
	pos, size int64
	tocSize   int64
	hash      [32]byte
}

// NewBuilder returns an empty archive.
func NewBuilder() *Builder {
	return &Builder{root: &bnode{children: map[string]*bnode{}}}
}

// Add puts a file at a slash-separated path, creating its directories.
func (b *Builder) Add(p string, src Source) error {
	if src == nil {
		return fmt.Errorf("s9pk: %s: no source: %w", p, errdefs.ErrInvalidRequest)
	}
	parts := strings.Split(p, "/")
	dir := b.root
	for i, name := range parts {
		if err := checkName(name); err != nil {
			return fmt.Errorf("s9pk: path %q: %v: %w", p, err, errdefs.ErrInvalidRequest)
		}
		child, exists := dir.children[name]
		if i == len(parts)-1 {
			if exists {
				return fmt.Errorf("s9pk: path %q added twice: %w", p, errdefs.ErrDuplicate)
			}
			dir.children[name] = &bnode{name: name, src: src}
			return nil
		}
		if !exists {
			child = &bnode{name: name, children: map[string]*bnode{}}
			dir.children[name] = child
		} else if child.children == nil {
			return fmt.Errorf("s9pk: path %q: %s is a file: %w", p, path.Join(parts[:i+1]...), errdefs.ErrDuplicate)
		}
		dir = child
	}
	return nil
}

// Has reports whether a file was added at p.
func (b *Builder) Has(p string) bool {
	n := b.root
	for _, name := range strings.Split(p, "/") {
		if n.children == nil {
			return false
		}
		if n = n.children[name]; n == nil {
			return false
		}
	}
	return n.src != nil
}

// rootPriority orders the root so what a reader needs first comes first, as
// StartOS does.
func rootPriority(name string) int {
	switch {
	case name == "manifest.json":
		return 0
	case strings.TrimSuffix(name, path.Ext(name)) == "icon":
		return 1
	case name == "LICENSE.md":
		return 2
	case name == "dependencies":
		return 3
	case name == "javascript.squashfs":
		return 4
	case name == "assets.squashfs":
		return 5
	case name == "images":
		return 6
	}
	return 100
}

// ordered returns a directory's entries in table order: directories, then
// files; at the root by priority, otherwise by name.
func (n *bnode) ordered(isRoot bool) []*bnode {
	out := make([]*bnode, 0, len(n.children))
	for _, c := range n.children {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.children != nil) != (b.children != nil) {
			return a.children != nil
		}
		if isRoot {
			if pa, pb := rootPriority(a.name), rootPriority(b.name); pa != pb {
				return pa < pb
			}
		}
		return a.name < b.name
	})
	return out
}

func (n *bnode) computeTOCSize(isRoot bool) int64 {
	s := varintLen(uint64(len(n.children)))
	for _, c := range n.ordered(isRoot) {
		typ := typeFile
		if c.children != nil {
			typ = typeDir
		}
		s += entryLen(c.name, typ)
	}
	return s
}

// Result describes a written archive.
type Result struct {
	Size       int64
	Commitment Commitment
	PublicKey  ed25519.PublicKey
}

// WriteTo writes the archive at offset 0 of w and signs it with key. File
// bodies are written once, in order, hashed as they stream; the tables of
// contents and the header are filled in at the end, which is why w must be an
// io.WriterAt (an *os.File). On error the contents of w are undefined.
func (b *Builder) WriteTo(w io.WriterAt, key ed25519.PrivateKey) (*Result, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("s9pk: signing key is %d bytes, not an Ed25519 private key: %w", len(key), errdefs.ErrInvalidRequest)
	}
	// Lay out breadth first, in the order of a queue: each table precedes its
	// children, and a file's position is fixed when its turn comes, so its
	// size need not be known in advance.
	off := int64(HeaderSize)
	queue := []*bnode{b.root}
	var dirs []*bnode // in layout order
	// Small buffers keep each chunk in cache from the read through the hash
	// to the write; measured against docker save, 256 KiB does best.
	pool := newPool(4, 256<<10)
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n.children == nil {
			if err := n.write(w, off, pool); err != nil {
				return nil, err
			}
			off += n.size
			continue
		}
		isRoot := n == b.root
		n.tocSize = n.computeTOCSize(isRoot)
		n.pos = off
		off += n.tocSize
		dirs = append(dirs, n)
		queue = append(queue, n.ordered(isRoot)...)
	}
	// Hash directories bottom up, then write their tables.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		entries := d.entries(d == b.root)
		d.hash = sighash(entries)
		toc := appendTOC(make([]byte, 0, d.tocSize), entries)
		if int64(len(toc)) != d.tocSize {
			return nil, fmt.Errorf("s9pk: internal error: table of %q is %d bytes, expected %d", d.name, len(toc), d.tocSize)
		}
		if _, err := w.WriteAt(toc, d.pos); err != nil {
			return nil, fmt.Errorf("s9pk: writing table of contents: %w", err)
		}
	}
	c := Commitment{RootSighash: b.root.hash, RootMaxSize: uint64(b.root.tocSize)}
	sig, err := sign(key, c)
	if err != nil {
		return nil, fmt.Errorf("s9pk: signing: %w", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	h := make([]byte, 0, HeaderSize)
	h = append(h, Magic[:]...)
	h = append(h, pub...)
	h = append(h, sig...)
	h = append(h, c.RootSighash[:]...)
	h = binary.BigEndian.AppendUint64(h, c.RootMaxSize)
	h = binary.BigEndian.AppendUint64(h, uint64(b.root.pos))
	h = binary.BigEndian.AppendUint64(h, uint64(b.root.tocSize))
	if _, err := w.WriteAt(h, 0); err != nil {
		return nil, fmt.Errorf("s9pk: writing header: %w", err)
	}
	return &Result{Size: off, Commitment: c, PublicKey: pub}, nil
}

func (n *bnode) entries(isRoot bool) []tocEntry {
	ordered := n.ordered(isRoot)
	out := make([]tocEntry, len(ordered))
	for i, c := range ordered {
		if c.children != nil {
			out[i] = tocEntry{name: c.name, hash: c.hash, size: uint64(c.tocSize), typ: typeDir, pos: uint64(c.pos), tocSize: uint64(c.tocSize)}
		} else {
			out[i] = tocEntry{name: c.name, hash: c.hash, size: uint64(c.size), typ: typeFile, pos: uint64(c.pos)}
		}
	}
	return out
}

// newPool returns depth buffers of size bytes for readAhead.
func newPool(depth, size int) chan []byte {
	pool := make(chan []byte, depth)
	for range depth {
		pool <- make([]byte, max(size, 1))
	}
	return pool
}

// write copies a file's source to w at off, hashing it on the way.
func (n *bnode) write(w io.WriterAt, off int64, pool chan []byte) error {
	r, err := n.src.Open()
	if err != nil {
		return fmt.Errorf("s9pk: opening %s: %w", n.name, err)
	}
	defer r.Close()
	var h serialHasher
	n.pos = off
	err = readAhead(r, pool, func() { r.Close() }, func(b []byte) error {
		_, _ = h.Write(b)
		if _, err := w.WriteAt(b, off); err != nil {
			return fmt.Errorf("s9pk: writing %s: %w", n.name, err)
		}
		off += int64(len(b))
		return nil
	})
	if err != nil {
		return fmt.Errorf("s9pk: %s: %w", n.name, err)
	}
	if err := r.Close(); err != nil {
		return fmt.Errorf("s9pk: reading %s: %w", n.name, err)
	}
	n.size = off - n.pos
	n.hash = h.Sum256()
	return nil
}

// readAhead reads r on its own goroutine into the buffers of free, as many
// chunks ahead as there are buffers, and hands each chunk to fn in order. A
// slow producer (the engine streaming an image) is never kept waiting while
// fn hashes and writes, nor fn while a chunk is read. The goroutine ends
// before readAhead returns; when fn fails, abort (if set) unblocks a read in
// progress. On success every buffer is back in free.
func readAhead(r io.Reader, free chan []byte, abort func(), fn func([]byte) error) error {
	depth := cap(free)
	type chunk struct {
		b   []byte
		err error
	}
	full := make(chan chunk, depth)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			k, err := io.ReadFull(r, buf)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			select {
			case full <- chunk{buf[:k], err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	finished := false
	defer func() {
		close(stop)
		if !finished && abort != nil {
			abort()
		}
		<-done
	}()
	for {
		c := <-full
		if c.err != nil {
			finished = true
		}
		if len(c.b) > 0 {
			if err := fn(c.b); err != nil {
				return err
			}
		}
		free <- c.b[:cap(c.b)]
		if errors.Is(c.err, io.EOF) {
			return nil
		}
		if c.err != nil {
			return fmt.Errorf("reading: %w", c.err)
		}
	}
}
