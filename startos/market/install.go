package market

import (
	"context"
	"fmt"
	"net/url"
	"sort"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/install"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/registry"
)

// choice is a version one registry offers.
type choice struct {
	reg string
	c   *cached
	v   *registry.Version
}

// best finds the newest version of id satisfying rng that runs here, over
// the registries (or only reg).
func (m *Market) best(id, rng, reg string) (*choice, error) {
	if reg != "" {
		var err error
		if reg, err = normalize(reg); err != nil {
			return nil, err
		}
	}
	var r manifest.VersionRange
	if rng != "" {
		var err error
		if r, err = manifest.ParseVersionRange(rng); err != nil {
			return nil, fmt.Errorf("version range %q: %v: %w", rng, err, errdefs.ErrInvalidRequest)
		}
	}
	urls, caches := m.snapshot(reg)
	if len(urls) == 0 {
		if reg != "" {
			return nil, fmt.Errorf("registry %s is not configured or has no verified index yet (registry.add / registry.refresh): %w", reg, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("no registry has a verified index (registry.add a registry, or registry.refresh): %w", errdefs.ErrNotFound)
	}
	var out *choice
	var firstErr, staleErr error
	now := m.o.Now()
	for _, u := range urls {
		c := caches[u]
		if c.expired(now) {
			if _, ok := c.ver.Packages[id]; ok && staleErr == nil {
				staleErr = expiredErr(u, c)
			}
			continue
		}
		v, err := c.ver.Best(id, r, m.o.Platform)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if out == nil || v.ParsedVersion().Compare(out.v.ParsedVersion()) > 0 {
			out = &choice{reg: u, c: c, v: v}
		}
	}
	if out == nil {
		if staleErr != nil {
			return nil, staleErr
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("no package %q in the registries: %w", id, errdefs.ErrNotFound)
		}
		return nil, firstErr
	}
	return out, nil
}

// Install installs id from the registries: the newest version in rng (empty:
// any) that runs on this box, downloaded through the installer, which
// verifies while streaming; the archive must equal the index's commitment
// and be signed by a developer the index trusts for id.
func (m *Market) Install(ctx context.Context, p model.InstallParams) error {
	if !manifest.ValidID(p.ID) {
		return fmt.Errorf("package id %q is not valid: %w", p.ID, errdefs.ErrInvalidRequest)
	}
	ch, err := m.best(p.ID, p.Version, p.Registry)
	if err != nil {
		return err
	}
	return m.installChoice(ctx, ch, p.AllowKeyChange)
}

func (m *Market) installChoice(ctx context.Context, ch *choice, allowKeyChange string) error {
	if ch.c.expired(m.o.Now()) { // it may have expired since best chose it
		return expiredErr(ch.reg, ch.c)
	}
	iu, err := registry.IndexURL(ch.reg)
	if err != nil {
		return err
	}
	archiveURL, err := registry.Resolve(iu, ch.v.URL)
	if err != nil {
		return err
	}
	au, err := url.Parse(archiveURL)
	if err != nil {
		return fmt.Errorf("archive url %q: %v: %w", archiveURL, err, errdefs.ErrRegistry)
	}
	pkg := ch.c.ver.Packages[ch.v.ID]
	exp := install.Expectation{ID: ch.v.ID, Version: ch.v.Version, Commitment: ch.v.Commitment, Size: ch.v.Size}
	for _, k := range pkg.Developers {
		if pub, err := registry.DecodeKey(k); err == nil {
			exp.Developers = append(exp.Developers, pub)
		}
	}
	opts := []install.InstallOption{
		install.Expect(exp),
		install.RedirectPolicy(registry.RedirectPolicy(au.Host, m.o.AllowRedirectsOffHost)),
		install.StallTimeout(m.o.StallTimeout),
		install.FromRegistry(ch.reg),
	}
	if allowKeyChange != "" {
		opts = append(opts, install.AllowKeyChange(allowKeyChange))
	}
	m.log.Info("installing from registry", "package", ch.v.ID, "version", ch.v.Version, "registry", ch.reg)
	if err := m.o.Installer.InstallURL(ctx, archiveURL, opts...); err != nil {
		return err
	}
	m.updateOffers(ctx)
	return nil
}

// Update installs a newer version of an installed package from the
// registries (the installer's update path: volume snapshot, migration,
// rollback on failure). It never downgrades.
func (m *Market) Update(ctx context.Context, p model.PackageUpdateParams) error {
	_, doc := m.o.Store.Read()
	e, ok := doc.Public.PackageData[p.ID]
	if !ok {
		return fmt.Errorf("package %s is not installed: %w", p.ID, errdefs.ErrNotFound)
	}
	cur, err := installedVersion(e)
	if err != nil {
		return err
	}
	reg := ""
	if e.Registry != nil {
		reg = *e.Registry
		if _, ok := doc.Private.Registries[reg]; !ok {
			reg = "" // installed from a registry since removed: look everywhere
		}
	}
	ch, err := m.best(p.ID, p.Version, reg)
	if err != nil {
		return err
	}
	if ch.v.ParsedVersion().Compare(cur) <= 0 {
		return fmt.Errorf("%s %s is installed; the newest the registries offer here is %s, not newer (a downgrade is never done): %w",
			p.ID, cur, ch.v.Version, errdefs.ErrInvalidRequest)
	}
	return m.installChoice(ctx, ch, "")
}

func installedVersion(e model.PackageDataEntry) (manifest.Version, error) {
	if e.StateInfo.State != model.PackageInstalled || e.StateInfo.Manifest == nil {
		return manifest.Version{}, fmt.Errorf("the package is %s, not installed: %w", e.StateInfo.State, errdefs.ErrInvalidRequest)
	}
	m, _, err := manifest.ParseArchived(e.StateInfo.Manifest)
	if err != nil || m == nil {
		return manifest.Version{}, fmt.Errorf("reading the installed manifest: %v: %w", err, errdefs.ErrUnknown)
	}
	return m.Version, nil
}

// Updates lists the packages with an update on offer.
func (m *Market) Updates() []model.PackageUpdateInfo {
	_, doc := m.o.Store.Read()
	out := []model.PackageUpdateInfo{}
	for id, e := range doc.Public.PackageData {
		if e.UpdateAvailable == nil {
			continue
		}
		info := model.PackageUpdateInfo{ID: id, UpdateAvailable: *e.UpdateAvailable}
		if mf, _, err := manifest.ParseArchived(e.StateInfo.Manifest); err == nil && mf != nil {
			info.Title, info.Installed = mf.Title, mf.Version.String()
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// updateOffers sets or clears packageData.<id>.updateAvailable for every
// installed package and raises one notification per newly offered version.
func (m *Market) updateOffers(ctx context.Context) {
	_, doc := m.o.Store.Read()
	urls, caches := m.snapshot("")
	now := m.o.Now()
	expired := map[string]bool{}
	for u, c := range caches {
		expired[u] = c.expired(now) // an expired index offers nothing
	}
	type offer struct {
		reg string
		v   *registry.Version
	}
	for id, e := range doc.Public.PackageData {
		cur, err := installedVersion(e)
		if err != nil {
			continue
		}
		var best *offer
		for _, u := range urls {
			if e.Registry != nil && *e.Registry != u {
				if _, configured := caches[*e.Registry]; configured {
					continue // offered by the registry it came from
				}
			}
			if expired[u] {
				continue
			}
			if v := caches[u].ver.Newer(id, cur, m.o.Platform); v != nil && (best == nil || v.ParsedVersion().Compare(best.v.ParsedVersion()) > 0) {
				best = &offer{reg: u, v: v}
			}
		}
		var want *model.UpdateAvailable
		if best != nil {
			want = &model.UpdateAvailable{Version: best.v.Version, Registry: best.reg, ReleaseNotes: best.v.ReleaseNotes}
		}
		if same(e.UpdateAvailable, want) {
			continue
		}
		if _, err := m.o.Store.MutatePackage(ctx, id, func(pe *model.PackageDataEntry) error {
			pe.UpdateAvailable = want
			return nil
		}); err != nil {
			m.log.Warn("recording an available update", "package", id, "error", err)
			continue
		}
		if want != nil {
			m.notifyOnce(ctx, id, e, want)
		}
	}
}

func same(a, b *model.UpdateAvailable) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// notifyOnce raises "Update Available" unless this version was already
// announced (recorded in the offering registry's pin).
func (m *Market) notifyOnce(ctx context.Context, id string, e model.PackageDataEntry, u *model.UpdateAvailable) {
	fresh := false
	if _, err := m.o.Store.Mutate(ctx, func(d *model.Document) error {
		fresh = false
		pin, ok := d.Private.Registries[u.Registry]
		if !ok || pin.Notified[id] == u.Version {
			return nil
		}
		fresh = true
		n := make(map[string]string, len(pin.Notified)+1)
		for k, v := range pin.Notified {
			n[k] = v
		}
		n[id] = u.Version
		pin.Notified = n
		regs := make(map[string]model.RegistryPin, len(d.Private.Registries))
		for k, v := range d.Private.Registries {
			regs[k] = v
		}
		regs[u.Registry] = pin
		d.Private.Registries = regs
		return nil
	}); err != nil || !fresh {
		return
	}
	title := id
	if mf, _, err := manifest.ParseArchived(e.StateInfo.Manifest); err == nil && mf != nil {
		title = mf.Title
	}
	if m.o.Notify != nil {
		m.o.Notify(ctx, model.NotificationInput{PackageID: id, Level: model.NotificationInfo, Title: "Update Available",
			Message: fmt.Sprintf("%s %s is available from %s.", title, u.Version, u.Registry)})
	}
}
