// Package install takes a package archive from an upload or a URL to an
// installed service: it verifies the archive while it arrives, checks that
// the box can run it, archives it, loads its images, creates its volumes,
// records it in the state document and hands it to the service manager. It
// also updates (with a volume snapshot and migration, rolled back on any
// failure) and uninstalls.
//
// Every install keeps a small journal under <data-dir>/tmp, so an install cut
// short by a crash is undone by New at the next start.
package install

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/internal/retry"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/notification"
)

// Services is what the installer needs of the service manager
// (*service.Manager satisfies it).
type Services interface {
	// Adopt creates the package's network and container from the manifest in
	// the document and starts driving it to statusInfo.desired.
	Adopt(ctx context.Context, id string) error
	// Release stops and removes the package's container and network. It is
	// idempotent.
	Release(ctx context.Context, id string) error
	// RunProcedure runs a docker procedure of package id with mf.
	RunProcedure(ctx context.Context, id string, mf *manifest.Manifest, p manifest.Procedure, input any) ([]byte, error)
}

// Options configure New.
type Options struct {
	Store    *db.Store
	Engine   *container.Client
	Services Services
	DataDir  string
	Logger   hclog.Logger
	// Notify raises a notification; default notification.Create on Store.
	Notify func(ctx context.Context, in model.NotificationInput)
	// Preflight, when set, may refuse a package against the document (in
	// the mutation that records the install, so two installs cannot both
	// pass): the LAN's raw TCP port clash check.
	Preflight func(d *model.Document, m *manifest.Manifest) error
	// Arch is the StartOS architecture name (x86_64, aarch64, riscv64);
	// default the one this binary runs on.
	Arch string
	// FreeBytes reports the free space of the filesystem holding path;
	// default statfs.
	FreeBytes func(path string) (uint64, error)
	// TotalRAM reports the machine's memory in bytes; default
	// serverInfo.ram, then sysinfo.
	TotalRAM func() (uint64, error)
	// UploadTTL is how long a sideload upload id stays valid; default 10 min.
	UploadTTL time.Duration
	// HTTPTimeout bounds an InstallURL download; default 1 hour.
	HTTPTimeout time.Duration
	// AllowLocalDownloads lets InstallURL fetch from loopback, link-local
	// and private addresses (tests, a registry on the LAN). Off, every
	// address a download dials must be public.
	AllowLocalDownloads bool
	// ReservedPorts are host ports packages may not publish (the daemon's
	// own listeners).
	ReservedPorts []uint16
}

// Installer installs, updates and uninstalls packages. Its methods are safe
// for concurrent use; one install, update or uninstall per package runs at a
// time.
type Installer struct {
	store    *db.Store
	engine   *container.Client
	services Services
	dataDir  string
	log      hclog.Logger
	notify   func(ctx context.Context, in model.NotificationInput)
	arch     string
	free     func(string) (uint64, error)
	ram      func() (uint64, error)
	ttl      time.Duration
	httpTime time.Duration
	// allowLocal and dialCheck decide which addresses a download may dial;
	// dialCheck is in.checkPublic except in tests.
	allowLocal bool
	dialCheck  func(address string) error
	reserved   []uint16
	// rename is os.Rename; tests make it fail.
	rename func(oldpath, newpath string) error
	// preloaded, when set (by tests), is told what each preload loaded.
	preloaded func(image string, refs []string, err error)
	preflight func(d *model.Document, m *manifest.Manifest) error

	base   context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // in-flight installs and uninstalls

	mu      sync.Mutex
	closed  bool
	uploads map[string]upload // upload id -> expiry and options
	jobs    map[string]*job   // package id -> running install/uninstall
}

// job is one running install, update or uninstall of a package.
type job struct {
	cancel    context.CancelCauseFunc
	done      chan struct{}
	progress  *tracker // nil for uninstall
	committed bool     // past the point where it can be cancelled; guarded by Installer.mu
}

// New checks opts, undoes what a crash left half done (see recover) and
// returns an Installer.
func New(ctx context.Context, opts Options) (*Installer, error) {
	switch {
	case opts.Store == nil:
		return nil, fmt.Errorf("install: Options.Store is nil: %w", errdefs.ErrInvalidRequest)
	case opts.Engine == nil:
		return nil, fmt.Errorf("install: Options.Engine is nil: %w", errdefs.ErrInvalidRequest)
	case opts.Services == nil:
		return nil, fmt.Errorf("install: Options.Services is nil: %w", errdefs.ErrInvalidRequest)
	case opts.DataDir == "":
		return nil, fmt.Errorf("install: Options.DataDir is empty: %w", errdefs.ErrInvalidRequest)
	}
	in := &Installer{
		store: opts.Store, engine: opts.Engine, services: opts.Services,
		dataDir: opts.DataDir, log: opts.Logger, notify: opts.Notify,
		arch: opts.Arch, free: opts.FreeBytes, ram: opts.TotalRAM, preflight: opts.Preflight,
		ttl: opts.UploadTTL, httpTime: opts.HTTPTimeout,
		allowLocal: opts.AllowLocalDownloads, reserved: opts.ReservedPorts,
		uploads: map[string]upload{}, jobs: map[string]*job{},
		rename: os.Rename,
	}
	if in.log == nil {
		in.log = hclog.NewNullLogger()
	}
	in.log = in.log.Named("install")
	if in.notify == nil {
		in.notify = func(ctx context.Context, n model.NotificationInput) {
			if _, err := notification.Create(ctx, in.store, n); err != nil {
				in.log.Warn("raising a notification", "title", n.Title, "error", err)
			}
		}
	}
	if in.arch == "" {
		in.arch = manifest.HostArch()
	}
	if in.free == nil {
		in.free = statfsFree
	}
	if in.ram == nil {
		in.ram = in.documentRAM
	}
	in.dialCheck = in.checkPublic
	if in.ttl <= 0 {
		in.ttl = 10 * time.Minute
	}
	if in.httpTime <= 0 {
		in.httpTime = time.Hour
	}
	for _, d := range []string{in.packagesDir(), in.tmpDir(), filepath.Join(in.dataDir, "volumes")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("install: creating %s: %v: %w", d, err, errdefs.ErrFilesystem)
		}
	}
	if err := in.recover(ctx); err != nil {
		return nil, err
	}
	in.base, in.cancel = context.WithCancel(context.Background())
	return in, nil
}

// Close cancels every install in progress and waits until each has put the
// box back as it was.
func (in *Installer) Close() error {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	in.cancel()
	in.wg.Wait()
	return nil
}

func (in *Installer) packagesDir() string { return filepath.Join(in.dataDir, "packages") }
func (in *Installer) tmpDir() string      { return filepath.Join(in.dataDir, "tmp") }

// archivePath is where an installed package's archive is kept.
func (in *Installer) archivePath(id string) string {
	return filepath.Join(in.packagesDir(), id+".s9pk")
}

// volumeDir is the folder of one of a package's volumes.
func (in *Installer) volumeDir(id, vol string) string {
	return filepath.Join(in.dataDir, "volumes", id, vol)
}

// begin registers a job for package id, refusing a second one.
func (in *Installer) begin(ctx context.Context, id string, tr *tracker) (*job, context.Context, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil, nil, fmt.Errorf("install: the installer is closed: %w", errdefs.ErrUnavailable)
	}
	if _, busy := in.jobs[id]; busy {
		return nil, nil, fmt.Errorf("package %s: an install, update or uninstall of it is already running: %w", id, errdefs.ErrInvalidRequest)
	}
	jctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(in.base, func() { cancel(fmt.Errorf("the installer is shutting down: %w", errdefs.ErrCancelled)) })
	j := &job{cancel: func(err error) { stop(); cancel(err) }, done: make(chan struct{}), progress: tr}
	in.jobs[id] = j
	in.wg.Add(1)
	return j, jctx, nil
}

// end unregisters a job.
func (in *Installer) end(id string, j *job) {
	in.mu.Lock()
	if in.jobs[id] == j {
		delete(in.jobs, id)
	}
	in.mu.Unlock()
	j.cancel(nil)
	close(j.done)
	in.wg.Done()
}

// commit marks a job as past cancelling; it fails if the job was cancelled.
func (in *Installer) commit(ctx context.Context, j *job) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := cause(ctx); err != nil {
		return err
	}
	j.committed = true
	return nil
}

// Cancel aborts the install or update of package id
// (package.cancel-install) and waits until the box is as it was.
func (in *Installer) Cancel(ctx context.Context, id string) error {
	in.mu.Lock()
	j, ok := in.jobs[id]
	var err error
	switch {
	case !ok || j.progress == nil:
		err = fmt.Errorf("package %s: no install in progress: %w", id, errdefs.ErrNotFound)
	case j.committed:
		err = fmt.Errorf("package %s: the install is finishing and can no longer be cancelled: %w", id, errdefs.ErrInvalidRequest)
	default:
		j.cancel(fmt.Errorf("package %s: install cancelled: %w", id, errdefs.ErrCancelled))
	}
	in.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cause is ctx's error, preferring the cause it was cancelled with.
func cause(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return ctx.Err()
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func statfsFree(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

func (in *Installer) documentRAM() (uint64, error) {
	_, doc := in.store.Read()
	if doc.Public.ServerInfo.RAM > 0 {
		return doc.Public.ServerInfo.RAM, nil
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0, fmt.Errorf("sysinfo: %w", err)
	}
	return si.Totalram * uint64(si.Unit), nil
}

// cleanupCtx is a context for undoing work after ctx was cancelled.
func cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

var errNoEntry = errors.New("no entry")

// mutateRetry applies an undo or cleanup write to the document, retrying a
// failed write a few times (logged each time) before giving up: such a write
// must not be silently lost, and the caller keeps its journal when it fails.
func (in *Installer) mutateRetry(ctx context.Context, what string, fn func(*model.Document) error) error {
	var err error
	wait := retry.Backoff{First: 100 * time.Millisecond, Max: time.Second}
	for try := 1; ; try++ {
		if _, err = in.store.Mutate(ctx, fn); err == nil {
			return nil
		}
		if try == 4 || errors.Is(err, errdefs.ErrNotFound) || errors.Is(err, errdefs.ErrInvalidRequest) {
			return err
		}
		in.log.Warn(what+": writing the state failed; retrying", "try", try, "error", err)
		if !wait.Sleep(ctx) {
			return err
		}
	}
}
