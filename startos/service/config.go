package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/internal/atomicfile"
	"github.com/startos-go/startos/startos/config"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/hostpath"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// The config procedures of StartOS 0.3: config get answers {spec, config},
// config set takes the config on stdin, properties answers version 2
// properties, and a dependent's config check and auto-configure read the
// dependency's config. Docker procedures run in the package's image; the
// compat image's forms are carried out here: the spec is read from the
// package's assets, the config kept as YAML at the path the procedure names
// in its data volume, properties read from stats.yaml.

func (m *Manager) configured(id string) (model.PackageDataEntry, *manifest.Manifest, error) {
	e, mf, err := m.installed(id)
	if err != nil {
		return e, nil, err
	}
	if mf.Config == nil {
		return e, nil, fmt.Errorf("package %q has no config: %w", id, errdefs.ErrNotFound)
	}
	return e, mf, nil
}

// ConfigGet returns package id's spec and config (package.config.get).
// While no config is saved the config is generated from the spec's
// defaults.
func (m *Manager) ConfigGet(ctx context.Context, id string) (config.Res, error) {
	_, mf, err := m.configured(id)
	if err != nil {
		return config.Res{}, fmt.Errorf("config get: %w", err)
	}
	spec, cfg, err := m.readConfig(ctx, mf)
	if err != nil {
		return config.Res{}, err
	}
	if cfg == nil {
		if cfg, err = spec.Defaults(); err != nil {
			return config.Res{}, fmt.Errorf("config get of %q: defaults: %w", id, err)
		}
	}
	if err := spec.FillPointers(cfg, m.pointerResolver(ctx, mf)); err != nil {
		return config.Res{}, fmt.Errorf("config get of %q: %w", id, err)
	}
	return config.Res{Spec: spec, Config: cfg}, nil
}

// readConfig runs config get; the config is nil while none is saved.
func (m *Manager) readConfig(ctx context.Context, mf *manifest.Manifest) (*config.Spec, config.Config, error) {
	id, p := mf.ID, mf.Config.Get
	if p.Native == manifest.NativeConfigGet {
		if len(p.Args) < 4 {
			return nil, nil, fmt.Errorf("config get of %q: compat config get wants a config path and a spec path: %w", id, errdefs.ErrInvalidRequest)
		}
		specPath, err := m.volumeFile(mf, p, p.Args[3], false)
		if err != nil {
			return nil, nil, fmt.Errorf("config get of %q: spec: %w", id, err)
		}
		raw, err := readBounded(specPath, config.MaxSpecBytes)
		if err != nil {
			return nil, nil, fmt.Errorf("config get of %q: spec %s: %w", id, p.Args[3], err)
		}
		spec, err := config.ParseSpec(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("config get of %q: %s: %w", id, p.Args[3], err)
		}
		cfgPath, err := m.volumeFile(mf, p, p.Args[2], false)
		if err != nil {
			return nil, nil, fmt.Errorf("config get of %q: config: %w", id, err)
		}
		raw, err = readBounded(cfgPath, config.MaxValueBytes)
		if errors.Is(err, os.ErrNotExist) {
			return spec, nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("config get of %q: %s: %w", id, p.Args[2], err)
		}
		cfg, err := config.ParseValue(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("config get of %q: saved config %s: %w", id, p.Args[2], err)
		}
		return spec, cfg, nil
	}
	out, err := m.runConfigProcedure(ctx, mf, "config get", p, nil)
	if err != nil {
		return nil, nil, err
	}
	spec, cfg, err := config.ParseGetResult(out)
	if err != nil {
		return nil, nil, fmt.Errorf("config get of %q: %w", id, err)
	}
	return spec, cfg, nil
}

// runConfigProcedure runs one of the config procedures with the config
// deadline and says which and why when it fails.
func (m *Manager) runConfigProcedure(ctx context.Context, mf *manifest.Manifest, what string, p manifest.Procedure, input any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.ConfigTimeout)
	defer cancel()
	out, err := m.RunProcedure(ctx, mf.ID, mf, p, input)
	var pe *ProcedureError
	switch {
	case err == nil:
		// The readers take YAML or JSON; CBOR and TOML become JSON.
		js, err := outputJSON(p.IOFormat, out)
		if err != nil {
			return nil, fmt.Errorf("%s of %q printed something that is not %s: %v: %w", what, mf.ID, p.IOFormat, err, errdefs.ErrAction)
		}
		return js, nil
	case errors.As(err, &pe):
		return nil, fmt.Errorf("%s of %q failed: %w", what, mf.ID, err)
	case errors.Is(err, errdefs.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("%s of %q did not finish within %s: %w", what, mf.ID, m.opts.ConfigTimeout, errdefs.ErrTimeout)
	}
	return nil, fmt.Errorf("%s of %q: %w", what, mf.ID, err)
}

// ConfigSet validates cfg against package id's spec, saves it with config
// set, marks the package configured and restarts it if it runs
// (package.config.set). It answers which dependents' config checks the new
// config fails; with dryRun it only answers. A config that breaks the spec,
// or a config set that fails, leaves the saved config as it was.
func (m *Manager) ConfigSet(ctx context.Context, id string, cfg config.Config, dryRun bool) (map[string]model.Breakage, error) {
	_, mf, err := m.configured(id)
	if err != nil {
		return nil, fmt.Errorf("config set: %w", err)
	}
	if cfg == nil {
		return nil, fmt.Errorf("config set of %q: no config given: %w", id, errdefs.ErrInvalidRequest)
	}
	cfg, err = config.Normalize(cfg)
	if err != nil {
		return nil, fmt.Errorf("config set of %q: %w", id, err)
	}
	spec, _, err := m.readConfig(ctx, mf)
	if err != nil {
		return nil, err
	}
	// Pointers are the box's to fill: whatever the client sent for them
	// is replaced.
	if err := spec.FillPointers(cfg, m.pointerResolver(ctx, mf)); err != nil {
		return nil, fmt.Errorf("config set of %q: %w", id, err)
	}
	if err := spec.Validate(cfg); err != nil {
		return nil, fmt.Errorf("config set of %q: %w", id, err)
	}
	if mf.Config.Set.Native == manifest.NativeConfigSet {
		rules, err := m.compatRules(mf, mf.Config.Set)
		if err != nil {
			return nil, fmt.Errorf("config set of %q: %w", id, err)
		}
		if err := rules.Check(cfg); err != nil {
			return nil, fmt.Errorf("config set of %q: the config breaks its rules: %w", id, err)
		}
	}
	checks := m.dependentChecks(ctx, id, cfg)
	breakages := map[string]model.Breakage{}
	for dep, msg := range checks {
		if msg != "" {
			breakages[dep] = model.Breakage{Dependency: id, Error: msg}
		}
	}
	if dryRun {
		return breakages, nil
	}
	if err := m.writeConfig(ctx, mf, cfg); err != nil {
		return nil, err
	}
	yes := true
	var running bool
	if err := m.mutateEntry(ctx, id, func(e *model.PackageDataEntry) {
		e.StatusInfo.Configured = &yes
		running = e.StatusInfo.Started != nil || e.StatusInfo.Desired.Main == model.DesiredRunning
	}); err != nil {
		return nil, fmt.Errorf("config set of %q: saved, but recording it failed: %w", id, err)
	}
	for dependent, msg := range checks {
		if err := m.setDependencyConfigError(ctx, dependent, id, msg); err != nil {
			return nil, err
		}
	}
	if running {
		if err := m.setDesired(ctx, id, desiredOnRestart); err != nil {
			return nil, fmt.Errorf("config set of %q: saved; restarting it failed: %w", id, err)
		}
	}
	return breakages, nil
}

func (m *Manager) writeConfig(ctx context.Context, mf *manifest.Manifest, cfg config.Config) error {
	id, p := mf.ID, mf.Config.Set
	if p.Native == manifest.NativeConfigSet {
		// compat config set <package-id> <config path> [<rules>]; an
		// older form without the path shares config get's.
		path, err := m.compatConfigPath(mf, true)
		if err != nil {
			return fmt.Errorf("config set of %q: %w", id, err)
		}
		data, err := yaml.Marshal(cfg)
		if err != nil {
			return fmt.Errorf("config set of %q: %w", id, err)
		}
		if err := atomicfile.Write(path, data, 0o644); err != nil {
			return fmt.Errorf("config set of %q: writing the config: %v: %w", id, err, errdefs.ErrFilesystem)
		}
		return nil
	}
	_, err := m.runConfigProcedure(ctx, mf, "config set", p, cfg)
	return err
}

// compatConfigPath is the host file where the compat form keeps the
// config: config set's path (its fourth argument), else config get's
// (its third).
func (m *Manager) compatConfigPath(mf *manifest.Manifest, create bool) (string, error) {
	set, get := mf.Config.Set, mf.Config.Get
	switch {
	case set.Native == manifest.NativeConfigSet && len(set.Args) >= 4:
		return m.volumeFile(mf, set, set.Args[3], create)
	case get.Native == manifest.NativeConfigGet && len(get.Args) >= 3:
		return m.volumeFile(mf, get, get.Args[2], create)
	}
	return "", fmt.Errorf("the compat config set form names no config path: %w", errdefs.ErrInvalidRequest)
}

// Properties returns package id's properties (package.properties); nil
// when the package declares none.
func (m *Manager) Properties(ctx context.Context, id string) (*config.Properties, error) {
	_, mf, err := m.installed(id)
	if err != nil {
		return nil, fmt.Errorf("properties: %w", err)
	}
	p := mf.Properties
	if p == nil {
		return nil, nil
	}
	var raw []byte
	if p.Native == manifest.NativeProperties {
		if len(p.Args) < 2 {
			return nil, fmt.Errorf("properties of %q: compat properties wants the stats.yaml path: %w", id, errdefs.ErrInvalidRequest)
		}
		path, err := m.volumeFile(mf, *p, p.Args[1], false)
		if err != nil {
			return nil, fmt.Errorf("properties of %q: %w", id, err)
		}
		raw, err = readBounded(path, config.MaxValueBytes)
		if errors.Is(err, os.ErrNotExist) {
			return &config.Properties{Version: 2, Data: map[string]config.PropertyValue{}}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("properties of %q: %s: %w", id, p.Args[1], err)
		}
	} else {
		raw, err = m.runConfigProcedure(ctx, mf, "properties", *p, nil)
		if err != nil {
			return nil, err
		}
	}
	props, err := config.ParseProperties(raw)
	if err != nil {
		return nil, fmt.Errorf("properties of %q: %w", id, err)
	}
	return props, nil
}

// dependentChecks runs the config check of every installed package that
// declares one on dependency id, with cfg as id's config. The answer maps
// each such dependent to its check's message ("" when it passes).
func (m *Manager) dependentChecks(ctx context.Context, id string, cfg config.Config) map[string]string {
	out := map[string]string{}
	_, doc := m.store.Read()
	ids := make([]string, 0, len(doc.Public.PackageData))
	for pid := range doc.Public.PackageData {
		ids = append(ids, pid)
	}
	sort.Strings(ids)
	for _, pid := range ids {
		e := doc.Public.PackageData[pid]
		if pid == id || e.StateInfo.State != model.PackageInstalled {
			continue
		}
		dmf, err := parseManifest(pid, e.StateInfo.Manifest)
		if err != nil {
			continue
		}
		if d := dmf.Dependencies[id]; d != nil && d.Config != nil {
			out[pid] = m.checkDependencyConfig(ctx, dmf, id, cfg)
		}
	}
	return out
}

// checkDependencyConfig runs dependent's config check of dependency with
// cfg: "" when it passes, else the check's message.
func (m *Manager) checkDependencyConfig(ctx context.Context, dependent *manifest.Manifest, dependency string, cfg config.Config) string {
	p := dependent.Dependencies[dependency].Config.Check
	if p.Native != "" {
		rules, err := m.compatRules(dependent, p)
		if err != nil {
			return err.Error()
		}
		if err := rules.Check(cfg); err != nil {
			return err.Error()
		}
		return ""
	}
	_, err := m.runConfigProcedure(ctx, dependent, "config check of "+dependency, p, cfg)
	if err == nil {
		return ""
	}
	var pe *ProcedureError
	if errors.As(err, &pe) && pe.Stderr != "" {
		return pe.Stderr
	}
	return err.Error()
}

func (m *Manager) setDependencyConfigError(ctx context.Context, dependent, dependency, msg string) error {
	return m.mutateEntry(ctx, dependent, func(e *model.PackageDataEntry) {
		if msg == "" {
			delete(e.StatusInfo.DependencyConfigErrors, dependency)
			if len(e.StatusInfo.DependencyConfigErrors) == 0 {
				e.StatusInfo.DependencyConfigErrors = nil
			}
			return
		}
		if e.StatusInfo.DependencyConfigErrors == nil {
			e.StatusInfo.DependencyConfigErrors = map[string]string{}
		}
		e.StatusInfo.DependencyConfigErrors[dependency] = msg
	})
}

// CheckDependencyConfigs runs the config checks package id declares on its
// dependencies and those its installed dependents declare on it, and
// records the results in statusInfo.dependencyConfigErrors.
func (m *Manager) CheckDependencyConfigs(ctx context.Context, id string) error {
	_, doc := m.store.Read()
	e, ok := doc.Public.PackageData[id]
	if !ok {
		return fmt.Errorf("package %q is not installed: %w", id, errdefs.ErrNotFound)
	}
	mf, err := parseManifest(id, e.StateInfo.Manifest)
	if err != nil {
		return err
	}
	var errs []error
	for _, dep := range sortedKeys(mf.Dependencies) {
		d := mf.Dependencies[dep]
		if d == nil || d.Config == nil {
			continue
		}
		_, dmf, err := m.installed(dep)
		if err != nil || dmf.Config == nil {
			continue // not installed: the dependency state says so already
		}
		_, cfg, err := m.readConfig(ctx, dmf)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		msg := ""
		if cfg != nil {
			msg = m.checkDependencyConfig(ctx, mf, dep, cfg)
		}
		errs = append(errs, m.setDependencyConfigError(ctx, id, dep, msg))
	}
	if mf.Config != nil {
		if _, cfg, err := m.readConfig(ctx, mf); err == nil && cfg != nil {
			for dependent, msg := range m.dependentChecks(ctx, id, cfg) {
				errs = append(errs, m.setDependencyConfigError(ctx, dependent, id, msg))
			}
		}
	}
	return errors.Join(errs...)
}

// AutoConfigure runs dependent's auto-configure procedure on dependency's
// config, checks the result against dependency's spec and, unless dryRun,
// saves it (package.dependency.configure).
func (m *Manager) AutoConfigure(ctx context.Context, dependent, dependency string, dryRun bool) (config.AutoConfigureRes, error) {
	_, mf, err := m.installed(dependent)
	if err != nil {
		return config.AutoConfigureRes{}, fmt.Errorf("auto-configure: %w", err)
	}
	d := mf.Dependencies[dependency]
	if d == nil || d.Config == nil {
		return config.AutoConfigureRes{}, fmt.Errorf("package %q declares no config rules for %q: %w", dependent, dependency, errdefs.ErrNotFound)
	}
	cur, err := m.ConfigGet(ctx, dependency)
	if err != nil {
		return config.AutoConfigureRes{}, err
	}
	var next config.Config
	if p := d.Config.AutoConfigure; p.Native != "" {
		rules, err := m.compatRules(mf, p)
		if err != nil {
			return config.AutoConfigureRes{}, fmt.Errorf("auto-configure of %q by %q: %w", dependency, dependent, err)
		}
		if next, err = rules.AutoConfigure(cur.Config); err != nil {
			return config.AutoConfigureRes{}, fmt.Errorf("auto-configure of %q by %q: the rules still fail: %w", dependency, dependent, err)
		}
	} else {
		out, err := m.runConfigProcedure(ctx, mf, "auto-configure of "+dependency, p, cur.Config)
		if err != nil {
			return config.AutoConfigureRes{}, err
		}
		if next, err = config.ParseValue(out); err != nil {
			return config.AutoConfigureRes{}, fmt.Errorf("auto-configure of %q by %q printed something that is not a %s config: %v: %w", dependency, dependent, orJSON(p.IOFormat), err, errdefs.ErrAction)
		}
	}
	if err := cur.Spec.Validate(next); err != nil {
		return config.AutoConfigureRes{}, fmt.Errorf("auto-configure of %q by %q gave a config its spec refuses: %w", dependency, dependent, err)
	}
	res := config.AutoConfigureRes{OldConfig: cur.Config, NewConfig: next, Spec: cur.Spec}
	if dryRun {
		return res, nil
	}
	if _, err := m.ConfigSet(ctx, dependency, next, false); err != nil {
		return config.AutoConfigureRes{}, err
	}
	return res, nil
}

// compatRules reads the config_rules.yaml a compat procedure names as its
// last argument (compat dependency check|auto-configure <dependent>
// <dependency> <dir> <rules>; compat config set <id> <config> <rules>) from
// the package's volumes. A config set naming a file that does not exist has
// no rules.
func (m *Manager) compatRules(mf *manifest.Manifest, p manifest.Procedure) (config.Rules, error) {
	want := 6
	if p.Native == manifest.NativeConfigSet {
		want = 5
	}
	if len(p.Args) < want {
		if p.Native == manifest.NativeConfigSet {
			return nil, nil
		}
		return nil, fmt.Errorf("compat %s wants %d arguments ending with the rules file: %w", strings.Join(p.Args[:min(2, len(p.Args))], " "), want, errdefs.ErrInvalidRequest)
	}
	name := p.Args[len(p.Args)-1]
	path, err := m.volumeFile(mf, p, name, false)
	if err != nil {
		return nil, fmt.Errorf("config rules %s: %w", name, err)
	}
	raw, err := readBounded(path, config.MaxRulesBytes)
	if errors.Is(err, os.ErrNotExist) && p.Native == manifest.NativeConfigSet {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config rules %s: %w", name, err)
	}
	rules, err := config.ParseRules(raw)
	if err != nil {
		return nil, fmt.Errorf("%s of %q: %w", name, mf.ID, err)
	}
	return rules, nil
}

// pointerResolver answers the pointers of mf's config spec. Only a
// declared dependency's values are given (a pointer to any other package is
// null, so a package cannot read the config of one it does not depend on):
// lan-address is the interface's .local name while LAN access is on;
// tor-address and tor-key are null (this box runs no Tor); config is the
// selected part of the dependency's saved config (null until it has one).
// System pointers (certificates) are null.
func (m *Manager) pointerResolver(ctx context.Context, mf *manifest.Manifest) config.PointerResolver {
	return func(v *config.ValueSpec) (any, error) {
		if v.Subtype != "package" || mf.Dependencies[v.PackageID] == nil {
			return nil, nil
		}
		_, doc := m.store.Read()
		e, ok := doc.Public.PackageData[v.PackageID]
		if !ok || e.StateInfo.State != model.PackageInstalled {
			return nil, nil
		}
		switch v.Target {
		case "lan-address":
			if a := e.InterfaceAddresses[v.Interface]; a.LanAddress != "" {
				return a.LanAddress, nil
			}
		case "config":
			dmf, err := parseManifest(v.PackageID, e.StateInfo.Manifest)
			if err != nil || dmf.Config == nil {
				return nil, nil
			}
			_, cfg, err := m.readConfig(ctx, dmf)
			if err != nil {
				return nil, fmt.Errorf("pointer to the config of %q: %w", v.PackageID, err)
			}
			if cfg == nil {
				return nil, nil
			}
			return config.Select(cfg, v.Selector, v.Multi)
		}
		return nil, nil
	}
}

func orJSON(f manifest.IOFormat) string {
	if f == "" {
		return "json"
	}
	return string(f)
}

// volumeFile maps a path inside a procedure's container to the host file
// in the volume mounted there. Only data and assets volumes qualify; no
// component may be a symlink (a container could plant one); with create,
// missing folders are made (data volumes only).
func (m *Manager) volumeFile(mf *manifest.Manifest, p manifest.Procedure, cpath string, create bool) (string, error) {
	if !strings.HasPrefix(cpath, "/") {
		return "", fmt.Errorf("path %q must be absolute: %w", cpath, errdefs.ErrInvalidRequest)
	}
	if err := hostpath.CheckSubPath("path "+cpath, cpath); err != nil {
		return "", err
	}
	vol, rel, ok := p.VolumeOf(cpath)
	if !ok {
		return "", fmt.Errorf("path %s is in none of the procedure's mounts: %w", cpath, errdefs.ErrInvalidRequest)
	}
	v := mf.Volumes[vol]
	if v == nil || (v.Type != manifest.VolumeData && v.Type != manifest.VolumeAssets) {
		return "", fmt.Errorf("path %s is in volume %q, which is not a data or assets volume: %w", cpath, vol, errdefs.ErrInvalidRequest)
	}
	if create && v.Type != manifest.VolumeData {
		return "", fmt.Errorf("path %s is in the read-only assets volume %q: %w", cpath, vol, errdefs.ErrInvalidRequest)
	}
	dir, err := hostpath.VolumeDir(m.opts.DataDir, mf.ID, vol)
	if err != nil {
		return "", err
	}
	if rel == "" {
		return "", fmt.Errorf("path %s is a volume's root, not a file: %w", cpath, errdefs.ErrInvalidRequest)
	}
	parts := strings.Split(rel, "/")
	cur := dir
	if create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("volume %q: %v: %w", vol, err, errdefs.ErrFilesystem)
		}
	}
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		st, err := os.Lstat(cur)
		last := i == len(parts)-1
		switch {
		case errors.Is(err, os.ErrNotExist) && (last || !create):
			return cur, nil // a missing file (or folder) reads as missing
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil {
				return "", fmt.Errorf("volume %q: %v: %w", vol, err, errdefs.ErrFilesystem)
			}
		case err != nil:
			return "", fmt.Errorf("volume %q: %v: %w", vol, err, errdefs.ErrFilesystem)
		case st.Mode()&os.ModeSymlink != 0:
			return "", fmt.Errorf("path %s: %s in volume %q is a symbolic link, which is not followed: %w", cpath, filepath.Join(parts[:i+1]...), vol, errdefs.ErrInvalidRequest)
		case !last && !st.IsDir():
			return "", fmt.Errorf("path %s: %s in volume %q is not a folder: %w", cpath, filepath.Join(parts[:i+1]...), vol, errdefs.ErrInvalidRequest)
		case last && !st.Mode().IsRegular():
			return "", fmt.Errorf("path %s in volume %q is not a regular file: %w", cpath, vol, errdefs.ErrInvalidRequest)
		}
	}
	return cur, nil
}

// readBounded reads at most limit bytes of a regular file, not following a
// symlink at the last component.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrFilesystem)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("is larger than %d bytes: %w", limit, errdefs.ErrInvalidRequest)
	}
	return b, nil
}

// hasSavedConfig reports whether a package's config is already saved where
// the daemon can see it (the compat form's file, restored or left by an
// earlier version); a docker config is saved only by config set.
func (m *Manager) hasSavedConfig(mf *manifest.Manifest) bool {
	if mf.Config == nil || mf.Config.Get.Native != manifest.NativeConfigGet || len(mf.Config.Get.Args) < 3 {
		return false
	}
	path, err := m.volumeFile(mf, mf.Config.Get, mf.Config.Get.Args[2], false)
	if err != nil {
		return false
	}
	st, err := os.Lstat(path)
	return err == nil && st.Mode().IsRegular()
}

// checkDependencyConfigsLater runs CheckDependencyConfigs in the
// background when id or a package depending on it declares config rules.
func (m *Manager) checkDependencyConfigsLater(id string, mf *manifest.Manifest) {
	need := false
	for _, d := range mf.Dependencies {
		need = need || (d != nil && d.Config != nil)
	}
	if !need && mf.Config != nil {
		_, doc := m.store.Read()
		for pid, e := range doc.Public.PackageData {
			if dmf, err := parseManifest(pid, e.StateInfo.Manifest); err == nil && pid != id {
				if d := dmf.Dependencies[id]; d != nil && d.Config != nil {
					need = true
				}
			}
		}
	}
	if !need {
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		if err := m.CheckDependencyConfigs(m.ctx, id); err != nil {
			m.log.Warn("checking dependency configs", "package", id, "error", err)
		}
	}()
}
