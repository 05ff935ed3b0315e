package install

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/s9pk"
)

// upload is a sideload waiting for its bytes.
type upload struct {
	expires time.Time
	opts    []InstallOption
}

// InstallOption changes one install.
type InstallOption func(*installOptions)

type installOptions struct {
	allowKeyChange string // the new developer key's fingerprint
	expect         *Expectation
	redirect       func(*http.Request, []*http.Request) error
	stall          time.Duration
	registry       string // the registry the archive comes from, recorded with the install
}

// FromRegistry records reg as packageData.<id>.registry in the same
// state write that marks the package installed, so no client ever sees
// it installed without knowing where it came from.
func FromRegistry(reg string) InstallOption {
	return func(o *installOptions) { o.registry = reg }
}

// StallTimeout makes InstallURL give up when no byte arrives for d.
func StallTimeout(d time.Duration) InstallOption {
	return func(o *installOptions) { o.stall = d }
}

// Expectation is what a registry's index says of an archive: the install
// refuses any other (a mirror or host swapping archives).
type Expectation struct {
	ID         string
	Version    string
	Commitment s9pk.Commitment
	Size       int64
	// Developers are the developer keys the index trusts for ID.
	Developers []ed25519.PublicKey
}

// Expect makes the install refuse an archive other than the one e names.
func Expect(e Expectation) InstallOption {
	return func(o *installOptions) { o.expect = &e }
}

// RedirectPolicy replaces InstallURL's redirect rule (e.g. refusing a
// redirect off the registry's host).
func RedirectPolicy(check func(*http.Request, []*http.Request) error) InstallOption {
	return func(o *installOptions) { o.redirect = check }
}

// check refuses an archive that is not the one the index named.
func (e *Expectation) check(sum *s9pk.Summary) error {
	if sum.Commitment != e.Commitment {
		return fmt.Errorf("the downloaded archive's merkle root differs from the registry index's for %s %s (the server or a mirror sent another archive): %w", e.ID, e.Version, errdefs.ErrInvalidSignature)
	}
	if sum.Manifest == nil || sum.Manifest.ID != e.ID || sum.Manifest.Version.String() != e.Version {
		return fmt.Errorf("the downloaded archive is not %s %s: %w", e.ID, e.Version, errdefs.ErrInvalidSignature)
	}
	if !slices.ContainsFunc(e.Developers, func(k ed25519.PublicKey) bool { return k.Equal(sum.PublicKey) }) {
		return fmt.Errorf("the archive for %s is signed by developer key %s, which the registry does not trust for %s: %w", e.ID, KeyFingerprint(sum.PublicKey), e.ID, errdefs.ErrInvalidSignature)
	}
	return nil
}

// AllowKeyChange lets an update signed by another developer key than the
// one pinned at first install go ahead, when that key's fingerprint is fpr
// (as KeyFingerprint writes it). Any other key is still refused.
func AllowKeyChange(fpr string) InstallOption {
	return func(o *installOptions) { o.allowKeyChange = fpr }
}

func collect(opts []InstallOption) installOptions {
	var o installOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// Sideload registers a one-shot upload id (package.sideload). The package
// file is then given to Receive with that id within the upload TTL, and
// installed with opts.
func (in *Installer) Sideload(ctx context.Context, opts ...InstallOption) (model.SideloadResult, error) {
	id := randomID()
	now := time.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return model.SideloadResult{}, fmt.Errorf("install: the installer is closed: %w", errdefs.ErrUnavailable)
	}
	for u, up := range in.uploads {
		if now.After(up.expires) {
			delete(in.uploads, u)
		}
	}
	in.uploads[id] = upload{expires: now.Add(in.ttl), opts: opts}
	return model.SideloadResult{Upload: id}, nil
}

// Receive consumes upload id: it verifies body (size bytes, or -1 when
// unknown) while writing it under <data-dir>/tmp, then installs it. It
// returns when the install has finished; its error is the install's.
func (in *Installer) Receive(ctx context.Context, uploadID string, body io.Reader, size int64) error {
	in.mu.Lock()
	up, ok := in.uploads[uploadID]
	delete(in.uploads, uploadID)
	in.mu.Unlock()
	if !ok || time.Now().After(up.expires) {
		return fmt.Errorf("upload %q: unknown or expired upload id (ask package.sideload for a new one): %w", uploadID, errdefs.ErrNotFound)
	}
	return in.installStream(ctx, PhaseUploading, body, size, up.opts...)
}

// minFreeMargin is free space kept beyond what a package needs.
const minFreeMargin = 64 << 20

// diskFactor: the archive is kept and its images are loaded into the engine.
const diskFactor = 2

// installStream receives an archive into a temp file, verifying every byte,
// then installs it.
func (in *Installer) installStream(ctx context.Context, phase string, body io.Reader, size int64, opts ...InstallOption) error {
	in.mu.Lock()
	closed := in.closed
	in.mu.Unlock()
	if closed {
		return fmt.Errorf("install: the installer is closed: %w", errdefs.ErrUnavailable)
	}
	if size > 0 {
		if err := in.checkDisk(uint64(size) * diskFactor); err != nil {
			in.notify(ctx, model.NotificationInput{Level: model.NotificationError, Title: "Install Failed", Message: err.Error()})
			return err
		}
	}
	tr := newTracker(in.store, in.log, phase, PhaseValidating, PhaseUnpacking, PhaseInstalling)
	o := collect(opts)
	if o.expect != nil && o.expect.Size > 0 && size > o.expect.Size {
		size = -2 // refused below, before a byte is written
	}
	// The images start loading as they arrive; release undoes whatever of
	// that the install ends up not using.
	pl := in.newPreloader(ctx)
	defer pl.release(ctx)
	tmp, sum, err := in.receive(ctx, tr, phase, body, size, o.expect, pl)
	if err != nil {
		tr.stop(err)
		err = wrapKind(err, errdefs.ErrInstallFailed)
		nctx, cancel := cleanupCtx(ctx)
		defer cancel()
		in.notify(nctx, model.NotificationInput{Level: model.NotificationError, Title: "Install Failed", Message: err.Error()})
		return err
	}
	return in.install(ctx, tr, tmp, sum, o, pl)
}

// progressWriter counts bytes for the tracker.
type progressWriter struct {
	tr    *tracker
	phase string
	n     uint64
	total int64
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.n += uint64(len(p))
	w.tr.bytes(w.phase, w.n, w.total)
	return len(p), nil
}

// receive writes body to a new file under tmp through a streaming verifier,
// which hands the images to pl as they arrive. On success the file holds
// exactly the verified archive.
func (in *Installer) receive(ctx context.Context, tr *tracker, phase string, body io.Reader, size int64, expect *Expectation, pl *preloader) (string, *s9pk.Summary, error) {
	tr.start(phase)
	if expect != nil && expect.Size > 0 {
		if size == -2 || size > expect.Size {
			return "", nil, fmt.Errorf("the download of %s %s is longer than the %d bytes the registry index lists: %w", expect.ID, expect.Version, expect.Size, errdefs.ErrInvalidRequest)
		}
		if size < 0 {
			size = expect.Size // unannounced: read no more than the index lists
		}
	}
	f, err := os.CreateTemp(in.tmpDir(), "upload-*.s9pk")
	if err != nil {
		return "", nil, fmt.Errorf("creating the upload file: %v: %w", err, errdefs.ErrFilesystem)
	}
	name := f.Name()
	fail := func(err error) (string, *s9pk.Summary, error) {
		f.Close()
		os.Remove(name)
		return "", nil, err
	}
	v := s9pk.NewVerifier(nil)
	v.SinkFiles(pl.sink)
	pw := &progressWriter{tr: tr, phase: phase, total: size}
	src := body
	if size >= 0 {
		src = io.LimitReader(body, size+1)
	}
	src = ctxReader{ctx: ctx, r: src}
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			n += int64(k)
			if size >= 0 && n > size {
				return fail(fmt.Errorf("the package file is longer than the %d bytes announced: %w", size, errdefs.ErrInvalidRequest))
			}
			if _, err := v.Write(buf[:k]); err != nil {
				return fail(fmt.Errorf("the package file failed verification at byte %d: %w: %w", v.Written(), err, errdefs.ErrParseS9pk))
			}
			if _, err := f.Write(buf[:k]); err != nil {
				return fail(fmt.Errorf("writing the upload file: %v: %w", err, errdefs.ErrFilesystem))
			}
			_, _ = pw.Write(buf[:k])
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			if c := cause(ctx); c != nil {
				return fail(fmt.Errorf("receiving the package file: %w", asCancelled(c)))
			}
			return fail(fmt.Errorf("receiving the package file after %d bytes: %v: %w", n, rerr, errdefs.ErrNetwork))
		}
	}
	if size >= 0 && n != size {
		return fail(fmt.Errorf("the package file ended after %d of the %d bytes announced: %w", n, size, errdefs.ErrInvalidRequest))
	}
	sum, err := v.Close()
	if err != nil {
		return fail(fmt.Errorf("the package file failed verification: %w: %w", err, errdefs.ErrParseS9pk))
	}
	if expect != nil {
		if err := expect.check(sum); err != nil {
			return fail(err)
		}
	}
	// No fsync here: the install flushes the file to disk while it loads
	// the images, and waits for that before it commits (see op.run).
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", nil, fmt.Errorf("writing the upload file: %v: %w", err, errdefs.ErrFilesystem)
	}
	tr.complete(phase)
	return filepath.Clean(name), sum, nil
}

// ctxReader stops a read loop once ctx ends (the body's own reads may not
// watch ctx).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := cause(c.ctx); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// asCancelled makes sure a context error reads as a cancel.
func asCancelled(err error) error {
	if errors.Is(err, errdefs.ErrCancelled) || errors.Is(err, errdefs.ErrTimeout) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%v: %w", err, errdefs.ErrTimeout)
	}
	return fmt.Errorf("%v: %w", err, errdefs.ErrCancelled)
}
