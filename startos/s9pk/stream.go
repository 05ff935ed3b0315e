package s9pk

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"lukechampine.com/blake3"

	"github.com/startos-go/startos/startos/manifest"
)

// Verifier checks an archive as its bytes arrive, front to back: write the
// stream to it (it is an io.Writer) and call Close at the end. It expects the
// breadth-first layout Open requires, where every table of contents comes
// before what it lists and the parts follow one another without gaps, so it
// always knows which part the next byte belongs to.
//
// A Write fails as soon as the bytes so far are wrong: a bad signature, an
// oversized or malformed table of contents, a hostile name, a file whose last
// byte completes a wrong hash, bytes no table accounts for. Until Close
// returns nil nothing that was written may be trusted.
type Verifier struct {
	opts Options
	off  int64
	hdr  []byte
	hd   *header

	queue  []*streamPart // parts not yet started, in layout order
	cur    *streamPart
	tocBuf []byte
	hasher serialHasher

	totalTOC  int64
	entries   int
	rootDone  bool
	manifest  []byte
	keepBytes bool
	err       error

	openSink func(*Entry) FileSink
	sink     FileSink // the current file's, if any
}

// A FileSink is handed one file's bytes as they arrive, before they are
// checked (see Verifier.SinkFiles).
type FileSink interface {
	// Write takes the file's next bytes. An error stops the Verifier.
	Write(p []byte) (int, error)
	// Verified is called after the file's last byte, only if the file
	// matches its hash. An error stops the Verifier.
	Verified() error
}

// SinkFiles makes the Verifier hand the bytes of each non-empty file to the
// sink open returns for it (nil: none) as they arrive, so a consumer can
// start on a large file while the archive is still arriving. Until Verified
// is called the bytes are unchecked; until Close returns nil the archive is:
// a consumer must be able to undo whatever it did with them.
func (v *Verifier) SinkFiles(open func(e *Entry) FileSink) { v.openSink = open }

type streamPart struct {
	e     *Entry
	depth int
}

func (p *streamPart) end() int64 {
	if p.e.Type == DirEntry {
		return p.e.Pos + p.e.TOCSize
	}
	return p.e.Pos + p.e.Size
}

// NewVerifier returns a Verifier; opts may be nil.
func NewVerifier(opts *Options) *Verifier {
	v := &Verifier{}
	if opts != nil {
		v.opts = *opts
	}
	return v
}

// Summary describes a verified archive.
type Summary struct {
	Size         int64
	Commitment   Commitment
	PublicKey    ed25519.PublicKey
	ManifestJSON []byte
	Manifest     *manifest.Manifest
}

// Written returns how many bytes have been accepted.
func (v *Verifier) Written() int64 { return v.off }

// Write consumes the next bytes of the archive.
func (v *Verifier) Write(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n := 0
	for len(p) > 0 {
		k, err := v.step(p)
		n += k
		p = p[k:]
		if err != nil {
			v.err = err
			return n, err
		}
	}
	return n, nil
}

func (v *Verifier) step(p []byte) (int, error) {
	if v.hd == nil {
		k := min(HeaderSize-len(v.hdr), len(p))
		v.hdr = append(v.hdr, p[:k]...)
		v.off += int64(k)
		if len(v.hdr) == HeaderSize {
			hd, err := parseHeader(v.hdr, &v.opts)
			if err != nil {
				return k, err
			}
			v.hd = hd
			root := &Entry{Type: DirEntry, Hash: hd.commit.RootSighash, Size: int64(hd.commit.RootMaxSize),
				Pos: hd.rootPos, TOCSize: hd.rootLen, ref: region{start: 139, end: 155}}
			if err := v.schedule(root, 0); err != nil {
				return k, err
			}
		}
		return k, nil
	}
	if v.cur == nil {
		if err := v.begin(false); err != nil {
			return 0, err
		}
	}
	k := int(min(int64(len(p)), v.cur.end()-v.off))
	chunk := p[:k]
	if v.cur.e.Type == DirEntry {
		v.tocBuf = append(v.tocBuf, chunk...)
	} else {
		_, _ = v.hasher.Write(chunk)
		if v.keepBytes {
			v.manifest = append(v.manifest, chunk...)
		}
		if v.sink != nil {
			if _, err := v.sink.Write(chunk); err != nil {
				return 0, fmt.Errorf("s9pk: %s: %w", v.cur.e.Path, err)
			}
		}
	}
	v.off += int64(k)
	if v.off == v.cur.end() {
		return k, v.finish()
	}
	return k, nil
}

// schedule queues a part the stream must reach later.
func (v *Verifier) schedule(e *Entry, depth int) error {
	r := e.region()
	if e.Type == DirEntry {
		if e.TOCSize > e.Size {
			return r.fail(malformed, "is %d bytes, more than the signed %d", e.TOCSize, e.Size)
		}
		if depth > maxDepth {
			return r.fail(malformed, "directories nest deeper than %d", maxDepth)
		}
		v.totalTOC += e.TOCSize
		if v.totalTOC > v.opts.maxTotalTOC() {
			return r.fail(malformed, "tables of contents exceed %d bytes in all", v.opts.maxTotalTOC())
		}
	}
	if r.end < r.start {
		return r.fail(malformed, "position out of range")
	}
	v.queue = append(v.queue, &streamPart{e: e, depth: depth})
	return nil
}

// begin starts the next part, which must start at the current offset,
// first finishing any empty files that sit there. At the end of the stream
// only empty files may remain.
func (v *Verifier) begin(atEnd bool) error {
	for len(v.queue) > 0 {
		p := v.queue[0]
		if p.e.Pos != v.off {
			return p.e.region().fail(malformed, "is at byte %d; laid out breadth first it would be at byte %d", p.e.Pos, v.off)
		}
		if p.end() > v.off {
			if atEnd {
				return p.e.region().fail(malformed, "stream ended at byte %d, before this part", v.off)
			}
			v.queue = v.queue[1:]
			v.cur = p
			if p.e.Type == DirEntry {
				v.tocBuf = make([]byte, 0, p.e.TOCSize)
			} else {
				v.hasher.Reset()
				v.keepBytes = p.e.Path == ManifestPath && p.e.Size <= manifest.MaxSize
				if v.openSink != nil {
					v.sink = v.openSink(p.e)
				}
			}
			return nil
		}
		v.queue = v.queue[1:]
		if p.e.Type == DirEntry {
			return p.e.region().fail(malformed, "table of contents is empty")
		}
		if blake3.Sum256(nil) != p.e.Hash {
			return p.e.region().fail(badHash, "contents do not match their hash")
		}
	}
	if atEnd {
		return nil
	}
	return &Error{Part: "archive", Start: v.off, End: v.off + 1, Err: fmt.Errorf("byte %d is not part of any file or table of contents: %w", v.off, malformed)}
}

func (v *Verifier) finish() error {
	p := v.cur
	v.cur = nil
	if p.e.Type == DirEntry {
		if err := parseTOC(p.e, v.tocBuf); err != nil {
			return err
		}
		v.tocBuf = nil
		v.entries += len(p.e.Children)
		if v.entries > v.opts.maxEntries() {
			return p.e.region().fail(malformed, "archive has more than %d entries", v.opts.maxEntries())
		}
		for _, c := range p.e.Children {
			if err := v.schedule(c, p.depth+1); err != nil {
				return err
			}
		}
		if p.e.Path == "" {
			v.rootDone = true
		}
		return nil
	}
	sink := v.sink
	v.sink = nil
	if v.hasher.Sum256() != p.e.Hash {
		return p.e.region().fail(badHash, "contents do not match their hash")
	}
	if sink != nil {
		if err := sink.Verified(); err != nil {
			return fmt.Errorf("s9pk: %s: %w", p.e.Path, err)
		}
	}
	return nil
}

// Close checks that the stream ended where the archive does and that the
// manifest is valid.
func (v *Verifier) Close() (*Summary, error) {
	if v.err != nil {
		return nil, v.err
	}
	if v.hd == nil {
		return nil, &Error{Part: "header", Start: 0, End: HeaderSize, Err: fmt.Errorf("stream ended after %d bytes, inside the header: %w", v.off, malformed)}
	}
	if v.cur == nil {
		// Empty files may sit at the very end.
		if err := v.begin(true); err != nil {
			return nil, err
		}
	}
	if v.cur != nil {
		r := v.cur.e.region()
		return nil, r.fail(malformed, "stream ended at byte %d, inside this part", v.off)
	}
	s := &Summary{Size: v.off, Commitment: v.hd.commit, PublicKey: v.hd.pub, ManifestJSON: v.manifest}
	if s.ManifestJSON == nil {
		return nil, fmt.Errorf("s9pk: not a package: manifest.json is missing: %w", malformed)
	}
	m, _, err := manifest.ParseArchived(s.ManifestJSON)
	if err != nil {
		return nil, fmt.Errorf("s9pk: manifest.json: %w", err)
	}
	s.Manifest = m
	return s, nil
}

// VerifyStream copies an archive from r to w, verifying it on the way, and
// returns the archive's summary. The header and root table of contents are
// held back until they are verified, so a bad signature, an oversized root
// table or a hostile name at the root leaves w untouched. Later problems stop
// the copy where they are found; whatever reached w is then to be discarded.
func VerifyStream(r io.Reader, w io.Writer, opts *Options) (*Summary, error) {
	v := NewVerifier(opts)
	buf := make([]byte, verifyChunk)
	var held bytes.Buffer
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := v.Write(buf[:n]); err != nil {
				return nil, err
			}
			if !v.rootDone {
				held.Write(buf[:n])
			} else {
				if held.Len() > 0 {
					if _, err := w.Write(held.Bytes()); err != nil {
						return nil, err
					}
					held = bytes.Buffer{}
				}
				if _, err := w.Write(buf[:n]); err != nil {
					return nil, err
				}
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	s, err := v.Close()
	if err != nil {
		return nil, err
	}
	if held.Len() > 0 {
		if _, err := w.Write(held.Bytes()); err != nil {
			return nil, err
		}
	}
	return s, nil
}
