package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// Services is what backups need of the service manager (*service.Manager).
type Services interface {
	BeginBackup(ctx context.Context, id string) error
	EndBackup(ctx context.Context, id string) error
	RunBackupProcedure(ctx context.Context, id string, mf *manifest.Manifest, p manifest.Procedure, backupDir string) error
	StartPackage(ctx context.Context, id string) error
}

// Installer is what a restore needs of the installer (*install.Installer):
// the sideload path, fed from the backed-up archive.
type Installer interface {
	Sideload(ctx context.Context) (model.SideloadResult, error)
	Receive(ctx context.Context, uploadID string, body io.Reader, size int64) error
	// Uninstall rolls back a package reinstalled by a restore cut short.
	Uninstall(ctx context.Context, id string, soft, force bool) error
}

// Options configure New.
type Options struct {
	Store     *db.Store
	Services  Services
	Installer Installer
	DataDir   string
	Logger    hclog.Logger
	Notify    func(ctx context.Context, in model.NotificationInput)
	Now       func() time.Time
	// PasswordParams is the argon2id cost of backup password hashes.
	PasswordParams auth.Params
	// ResticBinary overrides where restic is; default /usr/bin/restic, then $PATH.
	ResticBinary string
	// ScheduleInterval is how often the scheduler looks at the clock;
	// default a minute.
	ScheduleInterval time.Duration
}

// Manager runs backups and restores. Only one backup or restore runs at a
// time. Close stops the scheduler and cancels a running backup.
type Manager struct {
	opts   Options
	log    hclog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	busy    string // "backup" or "restore" while one runs; guarded by mu
	claim   uint64 // counts acquires, so a release frees only its own; guarded by mu
	closed  bool   // guarded by mu
	runDone chan struct{}
}

// New returns a Manager and starts its scheduler.
func New(opts Options) (*Manager, error) {
	if opts.Store == nil || opts.Services == nil || opts.DataDir == "" {
		return nil, errors.New("backup: store, services and data dir are required")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PasswordParams == (auth.Params{}) {
		opts.PasswordParams = auth.DefaultParams
	}
	if opts.ScheduleInterval == 0 {
		opts.ScheduleInterval = time.Minute
	}
	if opts.Notify == nil {
		opts.Notify = func(context.Context, model.NotificationInput) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel}
	m.clearStaleProgress()
	m.removeLeftovers()
	m.wg.Add(2)
	go m.scheduler()
	go func() {
		defer m.wg.Done()
		m.rollBackRestores(ctx)
	}()
	return m, nil
}

// Close cancels a running backup and waits for it and the scheduler.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}

// clearStaleProgress drops the progress a crash left; services return to
// their desired state through the service manager's boot reconcile.
func (m *Manager) clearStaleProgress() {
	_, doc := m.opts.Store.Read()
	if len(doc.Public.ServerInfo.StatusInfo.BackupProgress) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.record(ctx, func(d *model.Document) error {
		d.Public.ServerInfo.StatusInfo.BackupProgress = nil
		return nil
	})
}

// record makes a state write whose failure cannot undo what already
// happened (progress, times, a cached hash): it is logged, and the next
// write or start puts the document right.
func (m *Manager) record(ctx context.Context, fn func(d *model.Document) error) {
	if _, err := m.opts.Store.Mutate(ctx, fn); err != nil {
		m.log.Error("recording backup state", "error", err)
	}
}

func (m *Manager) path(elem ...string) string {
	return filepath.Join(append([]string{m.opts.DataDir}, elem...)...)
}

func newID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// --- targets ---

// AddTarget validates and stores a target (backup.target.add).
func (m *Manager) AddTarget(ctx context.Context, p model.BackupTargetAddParams) (model.BackupTargetID, error) {
	typ, err := TargetType(m.opts.DataDir, p.URL)
	if err != nil {
		return model.BackupTargetID{}, err
	}
	if err := checkCredentials(typ, p.Credentials); err != nil {
		return model.BackupTargetID{}, err
	}
	name := strings.TrimSpace(p.Name)
	if name == "" || len(name) > 128 {
		return model.BackupTargetID{}, fmt.Errorf("target name: 1-128 characters: %w", errdefs.ErrInvalidRequest)
	}
	id := newID()
	_, err = m.opts.Store.Mutate(ctx, func(d *model.Document) error {
		if d.Private.BackupTargets == nil {
			d.Private.BackupTargets = map[string]model.BackupTargetPrivate{}
		}
		for _, t := range d.Private.BackupTargets {
			if t.URL == p.URL {
				return fmt.Errorf("target %q: a target with that url exists (%s): %w", p.URL, t.Name, errdefs.ErrDuplicate)
			}
		}
		d.Private.BackupTargets[id] = model.BackupTargetPrivate{Name: name, URL: p.URL, Credentials: p.Credentials}
		return nil
	})
	if err != nil {
		return model.BackupTargetID{}, err
	}
	return model.BackupTargetID{ID: id}, nil
}

// Targets lists targets without their credentials (backup.target.list).
func (m *Manager) Targets(context.Context) ([]model.BackupTarget, error) {
	_, doc := m.opts.Store.Read()
	out := make([]model.BackupTarget, 0, len(doc.Private.BackupTargets))
	for id, t := range doc.Private.BackupTargets {
		out = append(out, publicTarget(m.opts.DataDir, id, t))
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || (out[i].Name == out[j].Name && out[i].ID < out[j].ID)
	})
	return out, nil
}

// UpdateTarget changes a target's name, url or credentials. A new url
// forgets the password hash: it may be another repository.
func (m *Manager) UpdateTarget(ctx context.Context, p model.BackupTargetUpdateParams) error {
	_, err := m.opts.Store.Mutate(ctx, func(d *model.Document) error {
		t, ok := d.Private.BackupTargets[p.TargetID]
		if !ok {
			return fmt.Errorf("backup target %q: %w", p.TargetID, errdefs.ErrNotFound)
		}
		if p.Name != nil {
			name := strings.TrimSpace(*p.Name)
			if name == "" || len(name) > 128 {
				return fmt.Errorf("target name: 1-128 characters: %w", errdefs.ErrInvalidRequest)
			}
			t.Name = name
		}
		if p.URL != nil && *p.URL != t.URL {
			t.URL, t.PasswordHash = *p.URL, ""
		}
		if p.Credentials != nil {
			t.Credentials = p.Credentials
		}
		typ, err := TargetType(m.opts.DataDir, t.URL)
		if err != nil {
			return err
		}
		if err := checkCredentials(typ, t.Credentials); err != nil {
			return err
		}
		d.Private.BackupTargets[p.TargetID] = t
		return nil
	})
	return err
}

// RemoveTarget forgets a target; its repository is left as it is.
func (m *Manager) RemoveTarget(ctx context.Context, id string) error {
	_, err := m.opts.Store.Mutate(ctx, func(d *model.Document) error {
		if _, ok := d.Private.BackupTargets[id]; !ok {
			return fmt.Errorf("backup target %q: %w", id, errdefs.ErrNotFound)
		}
		delete(d.Private.BackupTargets, id)
		if s := d.Private.BackupSchedule; s != nil && s.Schedule.TargetID == id {
			d.Private.BackupSchedule = nil
		}
		return nil
	})
	return err
}

func (m *Manager) target(id string) (model.BackupTargetPrivate, error) {
	_, doc := m.opts.Store.Read()
	t, ok := doc.Private.BackupTargets[id]
	if !ok {
		return t, fmt.Errorf("backup target %q: %w", id, errdefs.ErrNotFound)
	}
	return t, nil
}

// open returns a Restic for the target after checking password: against
// the stored hash when there is one, else by opening the repository (and
// with create, creating it when there is none), then storing the hash.
func (m *Manager) open(ctx context.Context, targetID, password string, create bool) (*Restic, func(), error) {
	return m.openAs(ctx, targetID, password, create, false)
}

// openAs with machineKey trusts password as the schedule's own repository
// key, which the stored hash (of the owner's password) does not cover.
func (m *Manager) openAs(ctx context.Context, targetID, password string, create, machineKey bool) (*Restic, func(), error) {
	if password == "" {
		return nil, nil, fmt.Errorf("backup password: required: %w", errdefs.ErrInvalidRequest)
	}
	t, err := m.target(targetID)
	if err != nil {
		return nil, nil, err
	}
	if machineKey {
		return resticFor(m.opts.ResticBinary, m.opts.DataDir, t)
	}
	if t.PasswordHash != "" {
		if err := auth.VerifyPassword(ctx, t.PasswordHash, password); err != nil {
			return nil, nil, fmt.Errorf("backup target %s: %w", t.Name, err)
		}
	}
	r, cleanup, err := resticFor(m.opts.ResticBinary, m.opts.DataDir, t)
	if err != nil {
		return nil, nil, err
	}
	if t.PasswordHash != "" {
		return r, cleanup, nil
	}
	err = r.Open(ctx, password)
	if err != nil && create && errors.Is(err, errdefs.ErrNotFound) {
		if typ, _ := TargetType(m.opts.DataDir, t.URL); typ == TypeLocal {
			if mkErr := os.MkdirAll(filepath.Dir(t.URL), 0o700); mkErr != nil {
				cleanup()
				return nil, nil, fmt.Errorf("backup target %s: %v: %w", t.URL, mkErr, errdefs.ErrBackup)
			}
		}
		err = r.Init(ctx, password)
	}
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("backup target %s: %w", t.Name, err)
	}
	hash, err := auth.HashPassword(ctx, password, m.opts.PasswordParams)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	m.record(ctx, func(d *model.Document) error {
		if cur, ok := d.Private.BackupTargets[targetID]; ok && cur.URL == t.URL {
			cur.PasswordHash = hash
			d.Private.BackupTargets[targetID] = cur
		}
		return nil
	})
	return r, cleanup, nil
}

// TargetInfo lists the snapshots in a target (backup.target.info).
func (m *Manager) TargetInfo(ctx context.Context, p model.BackupTargetPasswordParams) (model.BackupTargetInfo, error) {
	r, cleanup, err := m.open(ctx, p.TargetID, p.Password, false)
	if err != nil {
		return model.BackupTargetInfo{}, err
	}
	defer cleanup()
	snaps, err := r.Snapshots(ctx, p.Password, tagStartOS)
	if err != nil {
		return model.BackupTargetInfo{}, err
	}
	out := model.BackupTargetInfo{Snapshots: []model.BackupSnapshot{}}
	for _, s := range snaps {
		bs := model.BackupSnapshot{ID: s.ID, Time: s.Time, Run: s.Tag("run"), Kind: "package", PackageID: s.Tag("package"), Version: s.Tag("version")}
		if hasTag(s, tagBox) {
			bs.Kind = "box"
		}
		out.Snapshots = append(out.Snapshots, bs)
	}
	sort.Slice(out.Snapshots, func(i, j int) bool { return out.Snapshots[i].Time.After(out.Snapshots[j].Time) })
	return out, nil
}

// CheckTarget runs restic check on a target (backup.target.check).
func (m *Manager) CheckTarget(ctx context.Context, p model.BackupTargetPasswordParams) error {
	r, cleanup, err := m.open(ctx, p.TargetID, p.Password, false)
	if err != nil {
		return err
	}
	defer cleanup()
	return r.Check(ctx, p.Password)
}

const (
	tagStartOS = "startos"
	tagBox     = "box"
)

func hasTag(s Snapshot, tag string) bool {
	for _, t := range s.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// acquire marks the manager busy with what, or returns a busy error
// carrying the running job's progress. The release it returns is
// idempotent, and a late call never frees a later job's claim.
func (m *Manager) acquire(what string) (release func(), err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("backup: shutting down: %w", errdefs.ErrUnavailable)
	}
	if m.busy != "" {
		_, doc := m.opts.Store.Read()
		return nil, errdefs.WithInfo(fmt.Errorf("a %s is already running; one at a time: %w", m.busy, ErrBusy),
			doc.Public.ServerInfo.StatusInfo.BackupProgress)
	}
	m.busy = what
	m.claim++
	claim := m.claim
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.claim == claim && m.busy != "" {
			m.busy = ""
		}
	}, nil
}

// ErrBusy is a second backup or restore while one runs.
var ErrBusy = fmt.Errorf("backup busy: %w", errdefs.ErrUnavailable)
