package market

import (
	"fmt"
	"sort"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/registry"
)

// Search returns the newest version of each package matching query (every
// word, case-insensitive, in id, title, short description or categories)
// and category, over the registries (or one), in id order. The same id in
// two registries shows the newer version.
func (m *Market) Search(p model.PackageSearchParams) ([]model.MarketPackage, error) {
	reg := ""
	if p.Registry != "" {
		var err error
		if reg, err = normalize(p.Registry); err != nil {
			return nil, err
		}
	}
	urls, caches := m.snapshot(reg)
	_, doc := m.o.Store.Read()
	byID := map[string]model.MarketPackage{}
	parsed := map[string]manifest.Version{}
	now := m.o.Now()
	for _, u := range urls {
		c := caches[u]
		iu, _ := registry.IndexURL(u)
		stale := c.expired(now)
		for _, v := range c.cat.Search(p.Query, p.Category) {
			if old, ok := byID[v.ID]; ok {
				// A current index wins over an expired one, then the newer version.
				if !old.Stale && stale || old.Stale == stale && parsed[v.ID].Compare(v.ParsedVersion()) >= 0 {
					continue
				}
			}
			parsed[v.ID] = v.ParsedVersion()
			mp := m.marketPackage(iu, u, v, doc)
			mp.Stale = stale
			byID[v.ID] = mp
		}
	}
	out := make([]model.MarketPackage, 0, len(byID))
	for _, mp := range byID {
		out = append(out, mp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (m *Market) marketPackage(indexURL, reg string, v *registry.Version, doc *model.Document) model.MarketPackage {
	mp := model.MarketPackage{ID: v.ID, Version: v.Version, Title: v.Title, ShortDescription: v.Description.Short,
		LongDescription: v.Description.Long, ReleaseNotes: v.ReleaseNotes, Categories: v.Categories, Arch: v.Arch,
		OSVersion: v.OSVersion, Size: v.Size, Registry: reg, Runs: m.o.Platform.Runs(v)}
	if v.Icon != "" {
		mp.Icon, _ = registry.Resolve(indexURL, v.Icon)
	}
	if e, ok := doc.Public.PackageData[v.ID]; ok {
		if cur, err := installedVersion(e); err == nil {
			mp.Installed = cur.String()
		}
	}
	return mp
}

// Categories lists every category over the registries, sorted.
func (m *Market) Categories() []string {
	urls, caches := m.snapshot("")
	seen := map[string]bool{}
	for _, u := range urls {
		for _, c := range caches[u].ver.Categories() {
			seen[c] = true
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func (m *Market) pick(reg string) (string, *cached, error) {
	if reg != "" {
		var err error
		if reg, err = normalize(reg); err != nil {
			return "", nil, err
		}
	}
	urls, caches := m.snapshot(reg)
	if len(urls) == 0 {
		return "", nil, fmt.Errorf("no verified registry index (registry.add, registry.refresh): %w", errdefs.ErrNotFound)
	}
	if c := caches[urls[0]]; c.expired(m.o.Now()) {
		return "", nil, expiredErr(urls[0], c)
	}
	return urls[0], caches[urls[0]], nil
}

func versionInfo(indexURL string, v *registry.Version) model.PackageVersionInfo {
	u, _ := registry.Resolve(indexURL, v.URL)
	icon := ""
	if v.Icon != "" {
		icon, _ = registry.Resolve(indexURL, v.Icon)
	}
	cats := v.Categories
	if cats == nil {
		cats = []string{}
	}
	return model.PackageVersionInfo{Title: v.Title, Icon: icon, Description: model.MarketDescription{Short: v.Description.Short, Long: v.Description.Long}, ReleaseNotes: v.ReleaseNotes,
		OSVersion: v.OSVersion, Categories: cats, Hardware: model.HardwareReq{Arch: v.Arch},
		S9pk: model.S9pkInfo{PublishedAt: v.PublishedAt, URLs: []string{u}, Size: v.Size, Commitment: v.Commitment,
			Signatures: map[string]string{v.DeveloperKey: v.Signature}}}
}

// PackageIndex answers registry.package.index from a registry's cached,
// verified index (default the first configured).
func (m *Market) PackageIndex(p model.RegistryIndexParams) (model.PackageIndex, error) {
	u, c, err := m.pick(p.Registry)
	if err != nil {
		return model.PackageIndex{}, err
	}
	iu, _ := registry.IndexURL(u)
	out := model.PackageIndex{Categories: c.ver.Categories(), Packages: map[string]model.PackageIndexEntry{}}
	for id, pkg := range c.ver.Packages {
		e := model.PackageIndexEntry{Authorized: pkg.Developers, Categories: []string{}, Versions: map[string]model.PackageVersionInfo{}}
		if l := pkg.Latest(); l != nil && l.Categories != nil {
			e.Categories = l.Categories
		}
		for vs, v := range pkg.Versions {
			e.Versions[vs] = versionInfo(iu, v)
		}
		out.Packages[id] = e
	}
	return out, nil
}

// PackageGet answers registry.package.get: the best version of id in
// targetVersion that runs here, and the others' release notes when asked.
func (m *Market) PackageGet(p model.RegistryPackageGetParams) (model.PackageGet, error) {
	ch, err := m.best(p.ID, p.TargetVersion, p.Registry)
	if err != nil {
		return model.PackageGet{}, err
	}
	iu, _ := registry.IndexURL(ch.reg)
	out := model.PackageGet{Categories: ch.c.ver.Categories(), Best: map[string]model.PackageVersionInfo{ch.v.Version: versionInfo(iu, ch.v)}}
	switch p.OtherVersions {
	case "", "none":
	case "short", "full":
		out.OtherVersions = map[string]map[string]string{}
		for vs, v := range ch.c.ver.Packages[p.ID].Versions {
			if vs != ch.v.Version {
				out.OtherVersions[vs] = map[string]string{"releaseNotes": v.ReleaseNotes}
			}
		}
	default:
		return model.PackageGet{}, fmt.Errorf("otherVersions %q: want none, short or full: %w", p.OtherVersions, errdefs.ErrInvalidRequest)
	}
	return out, nil
}
