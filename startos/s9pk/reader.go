package s9pk

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"lukechampine.com/blake3"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
)

// Options tune how an archive is read. The zero value is safe.
type Options struct {
	// Commitment, when set, must match the archive. It also lets the root
	// table of contents be as large as the committed size.
	Commitment *Commitment
	// MaxTOCSize bounds the root table of contents when there is no
	// commitment; default DefaultMaxTOCSize.
	MaxTOCSize int64
	// MaxTotalTOCSize bounds all tables of contents together; default 16 MiB.
	MaxTotalTOCSize int64
	// MaxEntries bounds the number of files and directories; default 100000.
	MaxEntries int
	// LaxManifest opens an archive whose manifest.json decodes but fails
	// validation, for tools that report on it (ManifestErr says why).
	LaxManifest bool
}

const maxDepth = 32

func (o *Options) maxTOC() int64 {
	if o.MaxTOCSize > 0 {
		return o.MaxTOCSize
	}
	return DefaultMaxTOCSize
}

func (o *Options) maxTotalTOC() int64 {
	if o.MaxTotalTOCSize > 0 {
		return o.MaxTotalTOCSize
	}
	return 16 << 20
}

func (o *Options) maxEntries() int {
	if o.MaxEntries > 0 {
		return o.MaxEntries
	}
	return 100_000
}

// Archive is an opened, signature-checked archive. Its tables of contents
// are verified; file contents are verified as they are read.
type Archive struct {
	r      io.ReaderAt
	size   int64
	pub    ed25519.PublicKey
	sig    []byte
	commit Commitment
	root   *Entry

	manifestJSON []byte
	manifest     *manifest.Manifest
	manifestErr  error
}

// header is the parsed fixed header.
type header struct {
	pub     ed25519.PublicKey
	sig     []byte
	commit  Commitment
	rootPos int64
	rootLen int64
}

var headerRegion = region{part: "header", start: 0, end: HeaderSize}

// parseHeader checks the magic, the signature and the size limits.
func parseHeader(h []byte, opts *Options) (*header, error) {
	if !bytes.Equal(h[:3], Magic[:]) {
		return nil, &Error{Part: "header", Start: 0, End: 3, Err: fmt.Errorf("not an s9pk version 2 archive (magic % x): %w", h[:3], malformed)}
	}
	hd := &header{pub: ed25519.PublicKey(bytes.Clone(h[3:35])), sig: bytes.Clone(h[35:99])}
	copy(hd.commit.RootSighash[:], h[99:131])
	hd.commit.RootMaxSize = binary.BigEndian.Uint64(h[131:139])
	if err := verifySignature(hd.pub, hd.sig, hd.commit); err != nil {
		return nil, &Error{Part: "header", Start: 3, End: 139, Err: fmt.Errorf("%v: %w", err, badHash)}
	}
	limit := uint64(opts.maxTOC())
	if c := opts.Commitment; c != nil {
		if c.RootSighash != hd.commit.RootSighash {
			return nil, &Error{Part: "header", Start: 99, End: 131, Err: fmt.Errorf("root sighash does not match the commitment: %w", badHash)}
		}
		if hd.commit.RootMaxSize > c.RootMaxSize {
			return nil, &Error{Part: "header", Start: 131, End: 139, Err: fmt.Errorf("root max size %d exceeds the committed %d: %w", hd.commit.RootMaxSize, c.RootMaxSize, badHash)}
		}
		limit = c.RootMaxSize
	}
	if hd.commit.RootMaxSize > limit {
		return nil, &Error{Part: "header", Start: 131, End: 139, Err: fmt.Errorf("root table of contents may be %d bytes; the limit without a commitment is %d: %w", hd.commit.RootMaxSize, limit, malformed)}
	}
	pos, n := binary.BigEndian.Uint64(h[139:147]), binary.BigEndian.Uint64(h[147:155])
	ref := region{part: "root table of contents", refStart: 139, refEnd: 155}
	if n > hd.commit.RootMaxSize {
		return nil, ref.fail(malformed, "is %d bytes, more than the signed maximum %d", n, hd.commit.RootMaxSize)
	}
	if pos > 1<<62 {
		return nil, ref.fail(malformed, "position %d is out of range", pos)
	}
	hd.rootPos, hd.rootLen = int64(pos), int64(n)
	return hd, nil
}

// Open reads an archive's header and every table of contents, checking the
// signature, every directory's sighash, the size limits and every name, and
// that the parts are laid out breadth first, one after another, to the end. It then reads and validates
// manifest.json. Nothing else is read until asked for.
func Open(r io.ReaderAt, size int64, opts *Options) (*Archive, error) {
	if opts == nil {
		opts = &Options{}
	}
	if size < HeaderSize {
		return nil, &Error{Part: "header", Start: 0, End: HeaderSize, Err: fmt.Errorf("archive is %d bytes; the header alone is %d: %w", size, HeaderSize, malformed)}
	}
	h := make([]byte, HeaderSize)
	if _, err := r.ReadAt(h, 0); err != nil {
		return nil, headerRegion.fail(malformed, "reading: %v", err)
	}
	hd, err := parseHeader(h, opts)
	if err != nil {
		return nil, err
	}
	a := &Archive{r: r, size: size, pub: hd.pub, sig: hd.sig, commit: hd.commit}
	a.root = &Entry{
		Type: DirEntry, Hash: hd.commit.RootSighash, Size: int64(hd.commit.RootMaxSize),
		Pos: hd.rootPos, TOCSize: hd.rootLen,
		ref: region{start: 139, end: 155},
	}
	if err := a.readTables(opts); err != nil {
		return nil, err
	}
	if err := a.checkLayout(); err != nil {
		return nil, err
	}
	if err := a.loadManifest(opts); err != nil {
		return nil, err
	}
	return a, nil
}

// readTables reads every table of contents, breadth first.
func (a *Archive) readTables(opts *Options) error {
	var total int64
	entries := 0
	level := []*Entry{a.root}
	for depth := 0; len(level) > 0; depth++ {
		if depth > maxDepth {
			return level[0].region().fail(malformed, "directories nest deeper than %d", maxDepth)
		}
		var next []*Entry
		for _, dir := range level {
			reg := dir.region()
			if dir.TOCSize > dir.Size {
				return reg.fail(malformed, "is %d bytes, more than the signed %d", dir.TOCSize, dir.Size)
			}
			if err := a.inBounds(reg); err != nil {
				return err
			}
			total += dir.TOCSize
			if total > opts.maxTotalTOC() {
				return reg.fail(malformed, "tables of contents exceed %d bytes in all", opts.maxTotalTOC())
			}
			buf := make([]byte, dir.TOCSize)
			if _, err := a.r.ReadAt(buf, dir.Pos); err != nil {
				return reg.fail(malformed, "reading: %v", err)
			}
			if err := parseTOC(dir, buf); err != nil {
				return err
			}
			entries += len(dir.Children)
			if entries > opts.maxEntries() {
				return reg.fail(malformed, "archive has more than %d entries", opts.maxEntries())
			}
			for _, c := range dir.Children {
				if c.Type == DirEntry {
					next = append(next, c)
				} else if err := a.inBounds(c.region()); err != nil {
					return err
				}
			}
		}
		level = next
	}
	return nil
}

func (a *Archive) inBounds(r region) error {
	if r.start < HeaderSize || r.end < r.start || r.end > a.size {
		return &Error{Part: r.part, RefStart: r.refStart, RefEnd: r.refEnd,
			Err: fmt.Errorf("bytes %d-%d lie outside the %d-byte archive body: %w", r.start, r.end, a.size, malformed)}
	}
	return nil
}

// checkLayout makes sure every part sits where the breadth-first layout puts
// it: each table and file follows the previous one in queue order, without
// gaps, and the last ends where the file does. Then no byte goes unverified,
// and not even an empty file's position can change unnoticed.
func (a *Archive) checkLayout() error {
	at := int64(HeaderSize)
	queue := []*Entry{a.root}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if e.Pos != at {
			return e.region().fail(malformed, "is at byte %d; laid out breadth first it would be at byte %d", e.Pos, at)
		}
		if e.Type == DirEntry {
			at += e.TOCSize
			queue = append(queue, e.Children...)
		} else {
			at += e.Size
		}
	}
	if at != a.size {
		return &Error{Part: "archive", Start: at, End: a.size, Err: fmt.Errorf("bytes follow the last part: %w", malformed)}
	}
	return nil
}

// Size returns the archive's length.
func (a *Archive) Size() int64 { return a.size }

// PublicKey returns the signer's key.
func (a *Archive) PublicKey() ed25519.PublicKey { return a.pub }

// Signature returns the header signature.
func (a *Archive) Signature() []byte { return a.sig }

// Commitment returns the root sighash and max size, for registries.
func (a *Archive) Commitment() Commitment { return a.commit }

// Root returns the root directory.
func (a *Archive) Root() *Entry { return a.root }

// Stat returns the entry at a slash-separated path.
func (a *Archive) Stat(p string) (*Entry, error) {
	e := a.root
	for _, name := range strings.Split(strings.Trim(p, "/"), "/") {
		if name == "" {
			continue
		}
		if e.Type != DirEntry {
			return nil, fmt.Errorf("s9pk: %s: %s is a file: %w", p, e.Path, errdefs.ErrNotFound)
		}
		if e = e.Child(name); e == nil {
			return nil, fmt.Errorf("s9pk: %s: no such file: %w", p, errdefs.ErrNotFound)
		}
	}
	return e, nil
}

// Walk calls fn for every entry below the root, depth first, in table order.
func (a *Archive) Walk(fn func(e *Entry) error) error {
	var walk func(e *Entry) error
	walk = func(e *Entry) error {
		for _, c := range e.Children {
			if err := fn(c); err != nil {
				return err
			}
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(a.root)
}

// Files returns every file, in the order they are laid out.
func (a *Archive) Files() []*Entry {
	var files []*Entry
	_ = a.Walk(func(e *Entry) error {
		if e.Type == FileEntry {
			files = append(files, e)
		}
		return nil
	})
	sort.SliceStable(files, func(i, j int) bool { return files[i].Pos < files[j].Pos })
	return files
}

func (a *Archive) file(p string) (*Entry, error) {
	e, err := a.Stat(p)
	if err != nil {
		return nil, err
	}
	if e.Type != FileEntry {
		return nil, fmt.Errorf("s9pk: %s is a directory: %w", p, errdefs.ErrInvalidRequest)
	}
	return e, nil
}

// ReadFile returns a file's verified contents, refusing files larger than max.
func (a *Archive) ReadFile(p string, max int64) ([]byte, error) {
	e, err := a.file(p)
	if err != nil {
		return nil, err
	}
	return a.readEntry(e, max)
}

func (a *Archive) readEntry(e *Entry, max int64) ([]byte, error) {
	if e.Size > max {
		return nil, e.region().fail(errdefs.ErrInvalidRequest, "is %d bytes, more than the %d this caller reads into memory", e.Size, max)
	}
	buf := make([]byte, e.Size)
	if _, err := a.r.ReadAt(buf, e.Pos); err != nil && !(errors.Is(err, io.EOF) && e.Size == 0) {
		return nil, e.region().fail(malformed, "reading: %v", err)
	}
	if blake3.Sum256(buf) != e.Hash {
		return nil, e.region().fail(badHash, "contents do not match their hash")
	}
	return buf, nil
}

// inMemory is the size up to which Open reads a file whole.
const inMemory = 8 << 20

// Open returns a file's contents. They are verified before the first byte is
// returned: a small file is read and checked in memory; a large one is checked
// in a first pass, then read again and checked again, so a source that changes
// between the passes ends in an error rather than a clean EOF. (BLAKE3 without
// an outboard tree cannot vouch for a prefix of a file, so there is no way to
// hand out a large file's bytes as they are checked.)
func (a *Archive) Open(p string) (io.ReadCloser, error) {
	e, err := a.file(p)
	if err != nil {
		return nil, err
	}
	if e.Size <= inMemory {
		b, err := a.readEntry(e, inMemory)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	if err := a.VerifyFile(e, nil); err != nil {
		return nil, err
	}
	return &recheckReader{sr: io.NewSectionReader(a.r, e.Pos, e.Size), h: blake3.New(32, nil), e: e}, nil
}

type recheckReader struct {
	sr *io.SectionReader
	h  *blake3.Hasher
	e  *Entry
}

func (r *recheckReader) Read(p []byte) (int, error) {
	n, err := r.sr.Read(p)
	_, _ = r.h.Write(p[:n])
	if err == io.EOF {
		var sum [32]byte
		copy(sum[:], r.h.Sum(nil))
		if sum != r.e.Hash {
			return n, r.e.region().fail(badHash, "contents changed after they were verified")
		}
	}
	return n, err
}

func (r *recheckReader) Close() error { return nil }

// verifyChunk is the unit files are verified in: large, so BLAKE3 hashes each
// chunk on every core.
const verifyChunk = 4 << 20

// VerifyFile reads a file once and checks it against its hash, copying the
// (not yet verified) bytes to w when w is not nil: a caller that tees them
// somewhere must discard them unless VerifyFile returns nil.
func (a *Archive) VerifyFile(e *Entry, w io.Writer) error {
	if e.Type != FileEntry {
		return fmt.Errorf("s9pk: %s is a directory: %w", e.Path, errdefs.ErrInvalidRequest)
	}
	if e.Size <= verifyChunk && w == nil {
		_, err := a.readEntry(e, verifyChunk)
		return err
	}
	h := blake3.New(32, nil)
	sr := &sectionReader{r: a.r, off: e.Pos, end: e.Pos + e.Size}
	err := readAhead(sr, newPool(2, int(min(e.Size, verifyChunk))), nil, func(b []byte) error {
		_, _ = h.Write(b)
		if w != nil {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if sr.err != nil {
			return e.region().fail(malformed, "reading at byte %d: %v", sr.off, sr.err)
		}
		return fmt.Errorf("s9pk: %s: %w", e.Path, err)
	}
	if sr.off != sr.end {
		return e.region().fail(malformed, "ends at byte %d, short of %d", sr.off, sr.end)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if sum != e.Hash {
		return e.region().fail(badHash, "contents do not match their hash")
	}
	return nil
}

// sectionReader reads [off, end) of r, remembering a read error, so a file
// cut short is reported where it ends.
type sectionReader struct {
	r        io.ReaderAt
	off, end int64
	err      error
}

func (s *sectionReader) Read(p []byte) (int, error) {
	if s.off >= s.end {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.end-s.off)]
	n, err := s.r.ReadAt(p, s.off)
	s.off += int64(n)
	if n == len(p) {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	s.err = err
	return n, err
}

// VerifyAll checks every file against its hash, reading the archive once
// from start to end. progress, when set, is told the bytes checked so far.
func (a *Archive) VerifyAll(progress func(done int64)) error {
	var done int64
	for _, e := range a.Files() {
		if err := a.VerifyFile(e, nil); err != nil {
			return err
		}
		done += e.Size
		if progress != nil {
			progress(done)
		}
	}
	return nil
}

// File is an archive opened from a path; Close closes the file.
type File struct {
	*Archive
	f *os.File
}

// OpenFile opens and checks the archive at name.
func OpenFile(name string, opts *Options) (*File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("s9pk: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("s9pk: %w", err)
	}
	a, err := Open(f, st.Size(), opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{Archive: a, f: f}, nil
}

// Close closes the underlying file.
func (f *File) Close() error { return f.f.Close() }
