package startos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/startos-go/startos/startos/backup"
	"github.com/startos-go/startos/startos/config"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/install"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/net/lan"
	"github.com/startos-go/startos/startos/service"
	"github.com/startos-go/startos/startos/static"
	"github.com/startos-go/startos/startos/watchdog"
)

// openServices connects to the container engine (without waiting for it:
// services show "waiting for the container engine" until it answers),
// recovers interrupted installs, then starts one actor per package.
func (s *Server) openServices(ctx context.Context) error {
	engine, err := container.New(s.cfg.Engine)
	if err != nil {
		return err
	}
	s.engine = engine
	s.services, err = service.New(service.Options{
		Store: s.db, Engine: engine, DataDir: s.cfg.DataDir, Logger: s.log, Watchdog: s.wd,
		Notify:            func(ctx context.Context, in model.NotificationInput) { _, _ = s.Notify(ctx, in) },
		CrashLoopRestarts: s.cfg.Alerts.CrashLoopRestarts, CrashLoopWindow: s.cfg.Alerts.CrashLoopWindow,
		HealthAlertAfter: s.cfg.Alerts.HealthFailingFor, HealthGrace: s.cfg.HealthGrace, HealthInterval: s.cfg.HealthInterval,
	})
	if err != nil {
		return err
	}
	// The installer first: its recovery may put an old version back, and
	// the services' boot reconcile should see the result.
	s.installer, err = install.New(ctx, install.Options{
		Store: s.db, Engine: engine, Services: s.services, DataDir: s.cfg.DataDir,
		Logger: s.log.Named("install"), Notify: func(ctx context.Context, in model.NotificationInput) { _, _ = s.Notify(ctx, in) },
		Arch: Arch(), AllowLocalDownloads: s.cfg.AllowLocalDownloads, ReservedPorts: s.cfg.ReservedPorts,
		Preflight: lan.CheckPorts,
	})
	if err != nil {
		return err
	}
	// Volumes a crashed restore swapped go back before any container
	// mounts them.
	backup.RollBackVolumes(s.cfg.DataDir, s.log.Named("backup"))
	if err := s.services.Start(ctx); err != nil {
		return err
	}
	if err := s.openBackups(); err != nil {
		return err
	}
	if err := s.openMarket(ctx); err != nil {
		return err
	}
	s.engineInfo = func(ctx context.Context) string {
		info, err := engine.Ping(ctx)
		if err != nil {
			return "engine: " + err.Error()
		}
		out := fmt.Sprintf("engine at %s: API %s, %s\n", engine.Host(), info.APIVersion, info.OSType)
		if cfg, err := engine.Config(ctx); err == nil {
			out += fmt.Sprintf("version %s, storage driver %s, live-restore %t\n", cfg.ServerVersion, cfg.StorageDriver, cfg.LiveRestore)
		}
		return out
	}
	// Degraded: a stopped engine stops services, not the daemon, which
	// must stay up to say so and to bring them back.
	return s.wd.AddProbe("docker.ping", watchdog.Degraded, func(ctx context.Context) error {
		_, err := engine.Ping(ctx)
		return err
	}, watchdog.WithInterval(5*time.Second), watchdog.WithThresholds(15*time.Second, 30*time.Second, time.Minute))
}

func (s *Server) closeServices() error {
	var errs []error
	if s.market != nil {
		errs = append(errs, s.market.Close())
	}
	if s.backups != nil {
		errs = append(errs, s.backups.Close())
	}
	if s.installer != nil {
		errs = append(errs, s.installer.Close())
	}
	if s.services != nil {
		errs = append(errs, s.services.Close())
	}
	if s.engine != nil {
		errs = append(errs, s.engine.Close())
	}
	return errors.Join(errs...)
}

// Sideload returns a one-shot upload id; the archive goes to
// /rest/rpc/<id> and is installed as it is received.
func (s *Server) Sideload(ctx context.Context, p model.SideloadParams) (model.SideloadResult, error) {
	return s.installer.Sideload(ctx, keyChange(p.AllowKeyChange)...)
}

// ReceiveUpload installs the archive uploaded under id; it returns when the
// install has finished or failed.
func (s *Server) ReceiveUpload(ctx context.Context, id string, body io.Reader, size int64) error {
	return s.installer.Receive(ctx, id, body, size)
}

// InstallURL downloads, verifies and installs a package from an http(s) URL.
func (s *Server) InstallURL(ctx context.Context, p model.InstallParams) (model.Empty, error) {
	if p.URL == "" && p.ID != "" {
		m, err := s.marketOrErr()
		if err != nil {
			return model.Empty{}, err
		}
		return model.Empty{}, m.Install(ctx, p)
	}
	return model.Empty{}, s.installer.InstallURL(ctx, p.URL, keyChange(p.AllowKeyChange)...)
}

// keyChange is the install option allowing a new developer key, if any.
func keyChange(fpr string) []install.InstallOption {
	if fpr == "" {
		return nil
	}
	return []install.InstallOption{install.AllowKeyChange(fpr)}
}

// CancelInstall aborts an install or update in progress.
func (s *Server) CancelInstall(ctx context.Context, p model.CancelInstallParams) (model.Empty, error) {
	return model.Empty{}, s.installer.Cancel(ctx, p.ID)
}

// InstallProgress follows an install: its progress now and each change.
func (s *Server) InstallProgress(_ context.Context, p model.InstallProgressParams) (model.FullProgress, *feed.Feed[model.FullProgress], error) {
	return s.installer.Progress(p.ID)
}

// Uninstall removes a package (its volumes too unless soft).
func (s *Server) Uninstall(ctx context.Context, p model.UninstallParams) (model.Empty, error) {
	return model.Empty{}, s.installer.Uninstall(ctx, p.ID, p.Soft, p.Force)
}

// StartPackage, StopPackage and RestartPackage change only the desired state.
func (s *Server) StartPackage(ctx context.Context, p model.PackageIDParams) (model.Empty, error) {
	return model.Empty{}, s.services.StartPackage(ctx, p.ID)
}

func (s *Server) StopPackage(ctx context.Context, p model.PackageIDParams) (model.Empty, error) {
	return model.Empty{}, s.services.StopPackage(ctx, p.ID)
}

func (s *Server) RestartPackage(ctx context.Context, p model.PackageIDParams) (model.Empty, error) {
	return model.Empty{}, s.services.RestartPackage(ctx, p.ID)
}

// RebuildPackage drops the package's container and images and rebuilds them
// from the archive.
func (s *Server) RebuildPackage(ctx context.Context, p model.PackageIDParams) (model.Empty, error) {
	return model.Empty{}, s.services.Rebuild(ctx, p.ID)
}

// RebuildAll rebuilds every package's container and images from the archives.
func (s *Server) RebuildAll(ctx context.Context) (model.Empty, error) {
	return model.Empty{}, s.services.RebuildAll(ctx)
}

// PackageStats is memory and CPU per running package, in StartOS's shape:
// every installed package is a key, null while its container is not
// running.
func (s *Server) PackageStats(ctx context.Context) (map[string]*model.PackageStats, error) {
	running, err := s.services.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*model.PackageStats{}
	s.db.View().EachPackage(func(id string, _ *model.PackageDataEntry) bool {
		out[id] = nil
		if st, ok := running[id]; ok {
			st.ContainerID = service.ContainerName(id)
			st.MemoryUsageMiB, st.MemoryLimitMiB = st.Memory>>20, st.MemoryLimit>>20
			out[id] = &st
		}
		return true
	})
	return out, nil
}

// PackageLogs is a page of a package's container log.
func (s *Server) PackageLogs(ctx context.Context, p model.PackageLogsParams) (model.PackageLogPage, error) {
	return s.services.Logs(ctx, p.ID, p.LogsParams)
}

// FollowPackageLogs is recent log lines of a package, then each new one.
func (s *Server) FollowPackageLogs(ctx context.Context, p model.PackageLogsParams) (model.PackageLogPage, *feed.Feed[model.PackageLogEntry], error) {
	return s.services.FollowLogs(ctx, p.ID, p.LogsParams)
}

// ActionInput is an action's input spec (and current values, if any).
func (s *Server) ActionInput(ctx context.Context, p model.ActionInputParams) (model.ActionInput, error) {
	return s.services.ActionInputFor(ctx, p.PackageID, p.ActionID, p.Prefill)
}

// RunAction runs a package's action with its input.
func (s *Server) RunAction(ctx context.Context, p model.ActionParams) (model.ActionResult, error) {
	return s.services.RunActionFor(ctx, p.PackageID, p.ActionID, p.Input, p.EventID)
}

// ConfigGet is a package's config spec and config (package.config.get).
func (s *Server) ConfigGet(ctx context.Context, p model.PackageIDParams) (config.Res, error) {
	return s.services.ConfigGet(ctx, p.ID)
}

// ConfigSet validates and saves a package's config (package.config.set).
func (s *Server) ConfigSet(ctx context.Context, p model.ConfigSetParams) (map[string]model.Breakage, error) {
	return s.services.ConfigSet(ctx, p.ID, p.Config, p.DryRun)
}

// Properties is a package's properties (package.properties).
func (s *Server) Properties(ctx context.Context, p model.PackageIDParams) (*config.Properties, error) {
	return s.services.Properties(ctx, p.ID)
}

// DependencyConfigure runs a dependent's auto-configure on its dependency
// (package.dependency.configure).
func (s *Server) DependencyConfigure(ctx context.Context, p model.DependencyConfigureParams) (config.AutoConfigureRes, error) {
	return s.services.AutoConfigure(ctx, p.DependentID, p.DependencyID, p.DryRun)
}

// Packages lists installed and installing packages with the status a person
// sees.
func (s *Server) Packages(context.Context) ([]model.PackageSummary, error) {
	return slices.Clone(s.summaries.get(s.db.View())), nil
}

// summaryCache holds the listing of one revision: a summary is a function
// of the document alone, so calls between two revisions (most of them: a
// client polling a quiet box) reuse it instead of walking every entry.
type summaryCache struct {
	cur atomic.Pointer[revSummaries]
}

type revSummaries struct {
	rev  uint64
	list []model.PackageSummary // shared: callers get a copy
}

func (c *summaryCache) get(v db.View) []model.PackageSummary {
	if r := c.cur.Load(); r != nil && r.rev == v.Revision() {
		return r.list
	}
	list := []model.PackageSummary{}
	v.EachPackage(func(id string, e *model.PackageDataEntry) bool {
		list = append(list, summarize(id, e))
		return true
	})
	// A slower caller holding an older view must not replace a newer list.
	for {
		old := c.cur.Load()
		if old != nil && old.rev >= v.Revision() {
			return list
		}
		if c.cur.CompareAndSwap(old, &revSummaries{rev: v.Revision(), list: list}) {
			return list
		}
	}
}

// PackageInfo is one package in detail: status, health, dependencies,
// interfaces with their local addresses, actions.
func (s *Server) PackageInfo(_ context.Context, p model.PackageIDParams) (model.PackageInfo, error) {
	e, ok := s.db.View().Package(p.ID)
	if !ok {
		return model.PackageInfo{}, fmt.Errorf("package %q: %w", p.ID, errdefs.ErrNotFound)
	}
	info := model.PackageInfo{PackageSummary: summarize(p.ID, &e), Health: e.StatusInfo.Health, Error: e.StatusInfo.Error,
		Dependencies: map[string]model.DependencyStatus{}, Interfaces: []model.InterfaceAddress{}, Actions: []model.ActionSummary{}}
	mf := entryManifest(&e)
	if mf == nil {
		return info, nil
	}
	if deps, err := s.services.Dependencies(p.ID); err == nil {
		info.Dependencies = deps
	}
	for _, id := range sortedKeys(mf.Interfaces) {
		in := mf.Interfaces[id]
		ia := model.InterfaceAddress{ID: id, Name: in.Name, UI: in.UI, Addresses: []string{}}
		// Where the LAN router serves it (startos/net); the container's own
		// port is on loopback only, at a port the engine chooses.
		if a, ok := e.InterfaceAddresses[id]; ok {
			for _, addr := range append([]string{a.HTTPS, a.HTTP}, a.TCP...) {
				if addr != "" {
					ia.Addresses = append(ia.Addresses, addr)
				}
			}
		}
		info.Interfaces = append(info.Interfaces, ia)
	}
	for _, id := range sortedKeys(mf.Actions) {
		a := mf.Actions[id]
		info.Actions = append(info.Actions, model.ActionSummary{ID: id, Name: a.Name, Description: a.Description, AllowedStatuses: a.AllowedStatuses})
	}
	return info, nil
}

// InstalledVersion is the installed version of a package.
// It is nil, as in StartOS, when the package is absent or not installed yet.
func (s *Server) InstalledVersion(_ context.Context, p model.PackageIDParams) (*string, error) {
	e, ok := s.db.View().Package(p.ID)
	if !ok {
		return nil, nil
	}
	if mf := entryManifest(&e); mf != nil {
		v := mf.Version.String()
		return &v, nil
	}
	return nil, nil
}

func summarize(id string, e *model.PackageDataEntry) model.PackageSummary {
	sum := model.PackageSummary{ID: id, State: string(e.StateInfo.State), DisplayStatus: model.DeriveStatus(e)}
	raw := e.StateInfo.Manifest
	if len(raw) == 0 && e.StateInfo.InstallingInfo != nil {
		raw = e.StateInfo.InstallingInfo.NewManifest
	}
	h := heads.get(raw)
	sum.Title, sum.Version = h.Title, h.Version
	return sum
}

// manifestHead is what a listing shows of a manifest. Only two fields: a
// full parse and validation of every manifest would make listing cost
// milliseconds.
type manifestHead struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

// headCache remembers the head of each manifest it has read, keyed by the
// manifest's bytes in memory: the state document shares a manifest's bytes
// between revisions and never edits them in place, so the same bytes are
// the same manifest, and a listing parses a manifest once, not on every
// call.
type headCache struct {
	mu sync.Mutex
	m  map[headKey]manifestHead
}

type headKey struct {
	p *byte
	n int
}

// maxHeads bounds the cache; it starts over when full (installs and updates
// bring new manifests; the old ones are not needed again).
const maxHeads = 1024

var heads = &headCache{m: map[headKey]manifestHead{}}

func (c *headCache) get(raw json.RawMessage) manifestHead {
	if len(raw) == 0 {
		return manifestHead{}
	}
	k := headKey{p: &raw[0], n: len(raw)}
	c.mu.Lock()
	h, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return h
	}
	if json.Unmarshal(raw, &h) != nil {
		h = manifestHead{}
	}
	c.mu.Lock()
	if len(c.m) >= maxHeads {
		clear(c.m)
	}
	c.m[k] = h
	c.mu.Unlock()
	return h
}

// entryManifest decodes the installed manifest of an entry; nil while it has
// none.
func entryManifest(e *model.PackageDataEntry) *manifest.Manifest {
	if len(e.StateInfo.Manifest) == 0 {
		return nil
	}
	mf, _, err := manifest.ParseArchived(e.StateInfo.Manifest)
	if err != nil {
		return nil
	}
	return mf
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// StaticFile finds a package's icon, licence or instructions by the part of
// its URL after static.URLPrefix (see package static).
func (s *Server) StaticFile(rel string) (static.File, error) {
	return static.New(filepath.Join(s.cfg.DataDir, install.StaticDir)).Open(rel)
}
