// Package db is the state document: one JSON document ({public, private})
// changed by numbered revisions, persisted in bbolt, and streamed to
// subscribers as RFC 6902 patches scoped by JSON Pointer.
//
// Writers go through Mutate, which one committer goroutine serves: it runs
// the queued mutations in order, diffs each against the document before it,
// writes the whole group in one bbolt transaction (one fsync), then swaps in
// the new snapshot and hands the revisions to subscribers. Readers load the
// current snapshot with one atomic load and never wait for a writer.
package db

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/patch"
)

// DefaultCompactEvery is how many revisions the log grows before it is folded
// into the snapshot (StartOS's patch-db uses the same number).
const DefaultCompactEvery = 4096

// lockTimeout bounds how long Open waits for another process's lock on the
// file before it gives up.
const lockTimeout = time.Second

// maxBatch caps how many queued mutations one commit takes, so a long queue
// cannot delay the first of them without bound.
const maxBatch = 256

// Options configure Open.
type Options struct {
	// Path is the bbolt file; its directory must exist.
	Path   string
	Logger hclog.Logger
	// CompactEvery is how many revisions pass between snapshots; 0 means
	// DefaultCompactEvery.
	CompactEvery int
	// QueueSize is how many revisions a subscriber may have undelivered
	// before it is dropped with feed.ErrFellBehind; 0 means feed.DefaultSize.
	// It is also how far back Subscribe can resume from.
	QueueSize int
	// Init runs as the first mutation after every open. The store has made
	// sure serverInfo.id is set; Init fills in what the running daemon knows
	// (name, hostname, version, arch, RAM) and resets what does not survive
	// a restart.
	Init func(*model.Document)
}

var errClosed = fmt.Errorf("state store is closed: %w", errdefs.ErrUnavailable)

// Store is the state document. All methods are safe for concurrent use.
type Store struct {
	log          hclog.Logger
	bolt         *bolt.DB
	compactEvery uint64
	queueSize    int

	cur atomic.Pointer[snapshot]

	reqs     chan *request
	kick     chan struct{} // tells the committer that reqs has something; holds one
	commitMu sync.Mutex    // held by whoever commits: the committer or a lone caller
	quit     chan struct{} // closed by Close
	done     chan struct{} // closed when the committer has stopped

	closeOnce sync.Once
	closeErr  error

	snapRev   uint64 // revision of the on-disk snapshot; committer only
	lastBatch int    // requests in the last commit; committer only
	// wokeSubscribers: the last commit handed revisions to subscribers;
	// committer only.
	wokeSubscribers bool
	reserve         *reserve // zeros ahead of bbolt; committer only

	subMu  sync.Mutex       // guards the fields below
	subs   []*subscriber    // live subscribers
	recent []model.Revision // newest revisions, oldest first, for resuming
	closed bool

	queued     atomic.Uint64 // mutations handed to the committer; for tests
	commits    atomic.Uint64
	mutations  atomic.Uint64
	applyNanos atomic.Int64
}

// snapshot is one revision of the document. Nothing in it changes after it is
// published: mutations change a copy, and Read hands out copies.
type snapshot struct {
	rev uint64
	doc *model.Document
}

// Open opens (or creates) the state file, replays its log, starts the
// committer and runs opts.Init. A file locked by another process is an error
// after about a second, not a hang.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Path == "" {
		return nil, fmt.Errorf("db: Options.Path is empty: %w", errdefs.ErrInvalidRequest)
	}
	if opts.CompactEvery < 0 || opts.QueueSize < 0 {
		return nil, fmt.Errorf("db: CompactEvery (%d) and QueueSize (%d) must not be negative: %w",
			opts.CompactEvery, opts.QueueSize, errdefs.ErrInvalidRequest)
	}
	if opts.CompactEvery == 0 {
		opts.CompactEvery = DefaultCompactEvery
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = feed.DefaultSize
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// As etcd does: the freelist is rebuilt on open instead of written on
	// every commit, one page less per fsync.
	bdb, err := bolt.Open(opts.Path, 0o600, &bolt.Options{
		Timeout:        lockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("db: %s is locked by another process: %w", opts.Path, errdefs.ErrUnavailable)
	}
	if err != nil {
		return nil, fmt.Errorf("db: opening %s: %w: %w", opts.Path, err, errdefs.ErrFilesystem)
	}
	s := &Store{
		log:          opts.Logger,
		bolt:         bdb,
		compactEvery: uint64(opts.CompactEvery),
		queueSize:    opts.QueueSize,
		reqs:         make(chan *request, maxBatch),
		kick:         make(chan struct{}, 1),
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	if err := s.load(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("db: loading %s: %w", opts.Path, err)
	}
	if s.reserve, err = s.openReserve(opts.Path); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("db: opening %s: %w: %w", opts.Path, err, errdefs.ErrFilesystem)
	}
	go s.run()

	if _, err := s.Mutate(ctx, func(d *model.Document) error {
		if d.Public.ServerInfo.ID == "" {
			id, err := newServerID()
			if err != nil {
				return err
			}
			d.Public.ServerInfo.ID = id
		}
		if opts.Init != nil {
			opts.Init(d)
		}
		return nil
	}); err != nil {
		s.Close()
		return nil, fmt.Errorf("db: initializing the document: %w", err)
	}
	s.log.Debug("state document open", "path", opts.Path, "revision", s.Revision())
	return s, nil
}

func (s *Store) load() error {
	var old bool
	if err := s.bolt.View(func(tx *bolt.Tx) error { old = needsUpgrade(tx); return nil }); err != nil {
		return err
	}
	if old {
		if err := s.bolt.Update(upgrade); err != nil {
			return fmt.Errorf("upgrading the state file: %w: %w", err, errdefs.ErrFilesystem)
		}
	}
	var l *loaded
	err := s.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(metaBucket) == nil {
			return nil
		}
		var err error
		l, err = load(tx, s.queueSize)
		return err
	})
	if err != nil {
		return err
	}
	if l == nil {
		var empty model.Document
		empty.Normalize()
		raw, err := json.Marshal(&empty)
		if err != nil {
			return err
		}
		if err := s.bolt.Update(func(tx *bolt.Tx) error { return initialize(tx, raw) }); err != nil {
			return fmt.Errorf("creating the state file: %w: %w", err, errdefs.ErrFilesystem)
		}
		tree, err := patch.Decode(raw)
		if err != nil {
			return err
		}
		l = &loaded{tree: tree}
	}
	raw, err := json.Marshal(l.tree)
	if err != nil {
		return err
	}
	doc := new(model.Document)
	if err := json.Unmarshal(raw, doc); err != nil {
		return fmt.Errorf("the stored document does not fit the model: %w: %w", err, errdefs.ErrFilesystem)
	}
	// The model may not describe the stored document exactly (a field this
	// build adds or no longer has, a null where it writes {}). Patches are
	// diffs of typed documents, so the stored one must become the typed one
	// first: the difference is logged as a revision of its own, or a later
	// patch could name a path the replayed document lacks.
	if err := s.adoptModel(l, doc); err != nil {
		return err
	}
	s.snapRev = l.snapRev
	s.recent = l.recent
	s.cur.Store(&snapshot{rev: l.rev, doc: doc})
	return nil
}

// adoptModel logs the revision that turns the loaded document into doc's
// encoding, when they differ.
func (s *Store) adoptModel(l *loaded, doc *model.Document) error {
	canon, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	ct, err := patch.Decode(canon)
	if err != nil {
		return err
	}
	p, err := patch.Diff(l.tree, ct)
	if err != nil || len(p) == 0 {
		return err
	}
	r := model.Revision{ID: l.rev + 1, Patch: p}
	if err := s.bolt.Update(func(tx *bolt.Tx) error { return write(tx, []model.Revision{r}, false, nil, 0) }); err != nil {
		return fmt.Errorf("recording the document in this build's shape: %w: %w", err, errdefs.ErrFilesystem)
	}
	l.rev, l.tree = r.ID, ct
	l.recent = append(l.recent, r)
	return nil
}

// Close stops the committer (a commit in progress finishes; queued
// mutations fail), ends every subscription with feed.ErrSourceClosed and
// closes the file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.done
		// A caller committing on its own goroutine finishes first.
		s.commitMu.Lock()
		defer s.commitMu.Unlock()
		s.subMu.Lock()
		subs := s.subs
		s.subs, s.closed = nil, true
		s.subMu.Unlock()
		for _, sub := range subs {
			sub.feed.End(feed.ErrSourceClosed)
		}
		if err := s.bolt.Close(); err != nil {
			s.closeErr = fmt.Errorf("db: closing: %w", err)
		}
		if err := s.reserve.close(); err != nil && s.closeErr == nil {
			s.closeErr = fmt.Errorf("db: closing: %w", err)
		}
	})
	return s.closeErr
}

// Revision is the newest committed revision.
func (s *Store) Revision() uint64 { return s.cur.Load().rev }

// Read returns the newest committed revision and a copy of the document as
// of it, the caller's own: changing it changes nothing else (use Mutate for
// that). It never waits for a writer. The copy costs the number of maps and
// structs in the document, not its bytes (json.RawMessage values are shared
// and must not be edited in place); a hot path that needs one package or a
// few fields takes a View instead.
func (s *Store) Read() (uint64, *model.Document) {
	snap := s.cur.Load()
	return snap.rev, cloneDocument(snap.doc)
}

// View returns the newest committed revision, read-only. It never waits for
// a writer and stays as it is while later revisions are committed.
func (s *Store) View() View { return View{snap: s.cur.Load()} }

// View is one revision of the document. Its methods hand out copies, so
// nothing a caller does to them reaches the revision other readers see.
type View struct{ snap *snapshot }

// Revision is the view's revision.
func (v View) Revision() uint64 { return v.snap.rev }

// Document is a copy of the whole document (see Read).
func (v View) Document() *model.Document { return cloneDocument(v.snap.doc) }

// PackageIDs are the ids in public.packageData, sorted.
func (v View) PackageIDs() []string {
	return slices.Sorted(maps.Keys(v.snap.doc.Public.PackageData))
}

// Package is a copy of one package's entry.
func (v View) Package(id string) (model.PackageDataEntry, bool) {
	e, ok := v.snap.doc.Public.PackageData[id]
	if !ok {
		return model.PackageDataEntry{}, false
	}
	return e.Clone(), true
}

// Packages yields a copy of every package's entry, in id order.
func (v View) Packages() iter.Seq2[string, model.PackageDataEntry] {
	return func(yield func(string, model.PackageDataEntry) bool) {
		for _, id := range v.PackageIDs() {
			if !yield(id, v.snap.doc.Public.PackageData[id].Clone()) {
				return
			}
		}
	}
}

// EachPackage calls fn with every package's entry in id order, without
// copying it: fn must only read the entry and must not keep it, or anything
// it points to, after it returns (copy what it keeps). It is Packages for
// hot paths that read a few fields of every entry, such as a listing.
func (v View) EachPackage(fn func(id string, e *model.PackageDataEntry) bool) {
	for _, id := range v.PackageIDs() {
		e := v.snap.doc.Public.PackageData[id]
		if !fn(id, &e) {
			return
		}
	}
}

// ReadPackage calls fn with package id's entry, without copying it, and
// reports whether there is one; fn must only read the entry and not keep
// it (see EachPackage).
func (v View) ReadPackage(id string, fn func(e *model.PackageDataEntry)) bool {
	e, ok := v.snap.doc.Public.PackageData[id]
	if ok {
		fn(&e)
	}
	return ok
}

// ServerInfo is a copy of public.serverInfo.
func (v View) ServerInfo() model.ServerInfo { return cloneValue(v.snap.doc.Public.ServerInfo) }

// Dump returns the value at pointer in the public document, null when there
// is none. The pointer is relative to the whole document and defaults to
// "/public"; the root and anything under /private are refused.
func (s *Store) Dump(pointer string) (model.Dump, error) {
	ptr, err := publicPointer(pointer)
	if err != nil {
		return model.Dump{}, err
	}
	snap := s.cur.Load()
	v, err := valueAt(snap, ptr)
	if err != nil {
		return model.Dump{}, err
	}
	return model.Dump{ID: snap.rev, Value: v}, nil
}

// valueAt returns the JSON at ptr in snap (encoded for the caller alone),
// or null.
func valueAt(snap *snapshot, ptr patch.Pointer) (json.RawMessage, error) {
	v, ok, err := jsonAt(snap.doc, ptr)
	if err != nil {
		return nil, fmt.Errorf("db: reading %q: %w", ptr, err)
	}
	if !ok {
		return json.RawMessage("null"), nil
	}
	return bytes.Clone(v), nil
}

// publicPointer parses a Dump or Subscribe pointer and refuses what is not
// in the public document.
func publicPointer(pointer string) (patch.Pointer, error) {
	if pointer == "" {
		return patch.Pointer{"public"}, nil
	}
	ptr, err := patch.ParsePointer(pointer)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	switch {
	case len(ptr) == 0:
		return nil, fmt.Errorf("db: pointer %q is the whole document, which includes /private: %w", pointer, errdefs.ErrUnauthorized)
	case ptr[0] == "private":
		return nil, fmt.Errorf("db: pointer %q is in /private, which never leaves the daemon: %w", pointer, errdefs.ErrUnauthorized)
	case ptr[0] != "public":
		return nil, fmt.Errorf("db: pointer %q is outside the document (it must start with /public): %w", pointer, errdefs.ErrInvalidRequest)
	}
	return ptr, nil
}

// MaxUIBytes bounds /public/ui, which every client may write and every
// subscriber receives.
const MaxUIBytes = 256 << 10

// PutUI sets the value at pointer inside /public/ui (RFC 6902 add: the parent
// must exist; "" replaces the whole ui object). The ui after the change must
// stay within MaxUIBytes.
func (s *Store) PutUI(ctx context.Context, pointer string, value json.RawMessage) (model.Revision, error) {
	ptr, err := patch.ParsePointer(pointer)
	if err != nil {
		return model.Revision{}, fmt.Errorf("db: put ui: %w", err)
	}
	v, err := patch.Decode(value)
	if err != nil {
		return model.Revision{}, fmt.Errorf("db: put ui at %q: value: %w", pointer, err)
	}
	if len(value) > MaxUIBytes {
		return model.Revision{}, fmt.Errorf("db: put ui at %q: the value is %d bytes, over the ui's limit of %d (256 KiB): %w", pointer, len(value), MaxUIBytes, errdefs.ErrInvalidRequest)
	}
	if _, isObject := v.(map[string]any); len(ptr) == 0 && !isObject {
		return model.Revision{}, fmt.Errorf("db: put ui: the whole ui must be a JSON object: %w", errdefs.ErrInvalidRequest)
	}
	return s.Mutate(ctx, func(d *model.Document) error {
		ui, err := patch.Decode(d.Public.UI)
		if err != nil {
			return fmt.Errorf("db: put ui: stored ui: %w", err)
		}
		ui, err = patch.Apply(ui, model.Patch{{Op: model.OpAdd, Path: ptr.String(), Value: value}})
		if err != nil {
			return fmt.Errorf("db: put ui at %q: %w", pointer, err)
		}
		raw, err := json.Marshal(ui)
		if err != nil {
			return err
		}
		if len(raw) > MaxUIBytes {
			return fmt.Errorf("db: put ui at %q: the ui would be %d bytes, over its limit of %d (256 KiB); remove something first: %w", pointer, len(raw), MaxUIBytes, errdefs.ErrInvalidRequest)
		}
		d.Public.UI = raw
		return nil
	})
}

// Stats are counters for tests, benchmarks and metrics.
type Stats struct {
	Revision  uint64 // newest committed revision
	Commits   uint64 // bbolt write transactions (each one fsync) since Open
	Mutations uint64 // revisions committed since Open
	// Applying is the time spent running mutations and making their
	// patches (the copy, the mutator, the diff), disk writes excluded.
	Applying    time.Duration
	Subscribers int
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	s.subMu.Lock()
	n := 0
	for _, sub := range s.subs {
		if !sub.feed.Ended() {
			n++
		}
	}
	s.subMu.Unlock()
	return Stats{Revision: s.Revision(), Commits: s.commits.Load(), Mutations: s.mutations.Load(),
		Applying: time.Duration(s.applyNanos.Load()), Subscribers: n}
}

// newServerID returns 16 random base32 characters, lower case.
func newServerID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating the server id: %w", err)
	}
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:])), nil
}
