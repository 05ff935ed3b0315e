package startos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/install"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/service"
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
	})
	if err != nil {
		return err
	}
	// The installer first: its recovery may put an old version back, and
	// the services' boot reconcile should see the result.
	s.installer, err = install.New(ctx, install.Options{
		Store: s.db, Engine: engine, Services: s.services, DataDir: s.cfg.DataDir,
		Logger: s.log.Named("install"), Notify: func(ctx context.Context, in model.NotificationInput) { _, _ = s.Notify(ctx, in) },
		Arch: Arch(),
	})
	if err != nil {
		return err
	}
	if err := s.services.Start(ctx); err != nil {
		return err
	}
	s.engineInfo = func(ctx context.Context) string {
		info, err := engine.Ping(ctx)
		if err != nil {
			return "engine: " + err.Error()
		}
		return fmt.Sprintf("engine at %s: API %s, %s\n", engine.Host(), info.APIVersion, info.OSType)
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
func (s *Server) Sideload(ctx context.Context) (model.SideloadResult, error) {
	return s.installer.Sideload(ctx)
}

// ReceiveUpload installs the archive uploaded under id; it returns when the
// install has finished or failed.
func (s *Server) ReceiveUpload(ctx context.Context, id string, body io.Reader, size int64) error {
	return s.installer.Receive(ctx, id, body, size)
}

// InstallURL downloads, verifies and installs a package from an http(s) URL.
func (s *Server) InstallURL(ctx context.Context, p model.InstallParams) (model.Empty, error) {
	return model.Empty{}, s.installer.InstallURL(ctx, p.URL)
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

// PackageStats is memory and CPU per running package.
func (s *Server) PackageStats(ctx context.Context) (map[string]model.PackageStats, error) {
	return s.services.Stats(ctx)
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
	return s.services.ActionInput(ctx, p.PackageID, p.ActionID)
}

// RunAction runs a package's action with its input.
func (s *Server) RunAction(ctx context.Context, p model.ActionParams) (model.ActionResult, error) {
	return s.services.RunAction(ctx, p.PackageID, p.ActionID, p.Input)
}

// Packages lists installed and installing packages with the status a person
// sees.
func (s *Server) Packages(context.Context) ([]model.PackageSummary, error) {
	_, doc := s.db.Read()
	out := make([]model.PackageSummary, 0, len(doc.Public.PackageData))
	for id, e := range doc.Public.PackageData {
		out = append(out, summarize(id, &e))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// PackageInfo is one package in detail: status, health, dependencies,
// interfaces with their local addresses, actions.
func (s *Server) PackageInfo(_ context.Context, p model.PackageIDParams) (model.PackageInfo, error) {
	_, doc := s.db.Read()
	e, ok := doc.Public.PackageData[p.ID]
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
		// The port is published as the container serves it: StartOS would
		// terminate TLS for an ssl port, which this daemon does not do yet.
		for _, port := range sortedKeys(in.LanConfig) {
			ia.Addresses = append(ia.Addresses, "http://127.0.0.1:"+port)
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
func (s *Server) InstalledVersion(_ context.Context, p model.PackageIDParams) (string, error) {
	_, doc := s.db.Read()
	e, ok := doc.Public.PackageData[p.ID]
	if !ok {
		return "", fmt.Errorf("package %q: %w", p.ID, errdefs.ErrNotFound)
	}
	if mf := entryManifest(&e); mf != nil {
		return mf.Version.String(), nil
	}
	return "", fmt.Errorf("package %q is %s: %w", p.ID, e.StateInfo.State, errdefs.ErrNotFound)
}

func summarize(id string, e *model.PackageDataEntry) model.PackageSummary {
	sum := model.PackageSummary{ID: id, State: string(e.StateInfo.State), DisplayStatus: model.DeriveStatus(e)}
	raw := e.StateInfo.Manifest
	if len(raw) == 0 && e.StateInfo.InstallingInfo != nil {
		raw = e.StateInfo.InstallingInfo.NewManifest
	}
	// Only two fields: a full parse and validation of every manifest would
	// make listing cost milliseconds.
	var head struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	}
	if json.Unmarshal(raw, &head) == nil {
		sum.Title, sum.Version = head.Title, head.Version
	}
	return sum
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
