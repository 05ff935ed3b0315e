package market

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/registry"
)

// ErrMarketplaceRoute is returned for a marketplace.get path the signed
// index cannot answer (icons, licenses, instructions, archives, OS updates)
// or does not know.
var ErrMarketplaceRoute = errors.New("marketplace route not answered from the signed index")

// maxPerPage bounds one page of marketplace.get's package/v0/index.
const maxPerPage = 100

// MarketplaceGet answers StartOS 0.3's marketplace.get {url}. StartOS
// fetches any URL a client names and relays the answer; this box never
// fetches for a client. The URL must lie under a configured registry
// (<registry>/package/v0/<route>), and the route is answered from that
// registry's cached, verified, unexpired index: info, index, latest,
// release-notes/<id>, version/<id> and manifest/<id> (the index's fields
// only). Icons, licenses, instructions and archives are not in the index:
// those routes are refused with an error saying where to look instead.
func (m *Market) MarketplaceGet(p model.MarketplaceGetParams) (any, error) {
	target, err := url.Parse(p.URL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" || target.User != nil {
		return nil, fmt.Errorf("marketplace.get url %q: want an http(s) URL under a configured registry: %w", clip(p.URL), errdefs.ErrInvalidRequest)
	}
	reg, route, err := m.route(target)
	if err != nil {
		return nil, err
	}
	c := m.get(reg)
	if c == nil {
		return nil, fmt.Errorf("registry %s has no verified index yet (registry.refresh): %w", reg, errdefs.ErrNotFound)
	}
	if c.expired(m.o.Now()) {
		return nil, expiredErr(reg, c)
	}
	iu, _ := registry.IndexURL(reg)
	q := target.Query()
	name, rest, _ := strings.Cut(route, "/")
	switch {
	case route == "info":
		return model.MarketplaceInfo{Name: c.ver.Name, Categories: nonNil(c.ver.Categories())}, nil
	case route == "index":
		return m.marketplaceIndex(iu, c, q)
	case route == "latest":
		ids, err := idList(q.Get("ids"), true)
		if err != nil {
			return nil, err
		}
		out := make(map[string]*string, len(ids))
		for _, id := range ids {
			out[id] = nil
			if v, err := c.ver.Best(id, manifest.VersionRange{}, m.o.Platform); err == nil {
				out[id] = &v.Version
			}
		}
		return out, nil
	case name == "release-notes" && rest != "":
		pkg, err := lookup(c, rest)
		if err != nil {
			return nil, err
		}
		out := make(map[string]string, len(pkg.Versions))
		for vs, v := range pkg.Versions {
			out[vs] = v.ReleaseNotes
		}
		return out, nil
	case (name == "version" || name == "manifest") && rest != "":
		v, err := m.specVersion(c, rest, q)
		if err != nil {
			return nil, err
		}
		if name == "version" {
			return map[string]string{"version": v.Version}, nil
		}
		return marketplaceManifest(v), nil
	case name == "icon" || name == "license" || name == "instructions" || strings.HasSuffix(route, ".s9pk"):
		return nil, fmt.Errorf("marketplace.get %s: the signed index holds no %s; package.search gives the icon's URL and package.install {id} downloads and verifies the archive: %w: %w",
			route, strings.TrimSuffix(name, "/"), ErrMarketplaceRoute, errdefs.ErrInvalidRequest)
	}
	return nil, fmt.Errorf("marketplace.get: no route %q (answered: info, index, latest, release-notes/<id>, version/<id>, manifest/<id>): %w: %w",
		clip(route), ErrMarketplaceRoute, errdefs.ErrInvalidRequest)
}

// route finds the configured registry target lies under and the route
// after <registry>/package/v0/.
func (m *Market) route(target *url.URL) (reg, route string, err error) {
	_, doc := m.o.Store.Read()
	for u := range doc.Private.Registries {
		base, err := url.Parse(u)
		if err != nil || base.Scheme != target.Scheme || !strings.EqualFold(base.Host, target.Host) {
			continue
		}
		basePath := strings.TrimSuffix(base.Path, "/")
		if r, ok := strings.CutPrefix(target.Path, basePath+"/package/v0/"); ok && r != "" {
			return u, r, nil
		}
		if strings.HasPrefix(target.Path, basePath+"/eos/") {
			return "", "", fmt.Errorf("marketplace.get %s: OS updates are not served by package registries on this box: %w: %w",
				target.Redacted(), ErrMarketplaceRoute, errdefs.ErrInvalidRequest)
		}
	}
	return "", "", fmt.Errorf("marketplace.get %s: not under a configured registry's /package/v0/ (registry.list); this box answers from verified indexes and never fetches a URL a client names: %w",
		target.Redacted(), errdefs.ErrInvalidRequest)
}

func lookup(c *cached, id string) (*registry.Package, error) {
	if !manifest.ValidID(id) {
		return nil, fmt.Errorf("package id %q is not valid: %w", clip(id), errdefs.ErrInvalidRequest)
	}
	pkg := c.ver.Packages[id]
	if pkg == nil {
		return nil, fmt.Errorf("no package %q in the registry: %w", id, errdefs.ErrNotFound)
	}
	return pkg, nil
}

// specVersion picks the version of id in ?spec= (default any) that runs
// here: the newest, or the oldest with ?version-priority=min.
func (m *Market) specVersion(c *cached, id string, q url.Values) (*registry.Version, error) {
	pkg, err := lookup(c, id)
	if err != nil {
		return nil, err
	}
	var r manifest.VersionRange
	if s := q.Get("spec"); s != "" && s != "*" {
		if r, err = manifest.ParseVersionRange(s); err != nil {
			return nil, fmt.Errorf("spec %q: %v: %w", clip(s), err, errdefs.ErrInvalidRequest)
		}
	}
	versions := pkg.Sorted() // newest first
	switch q.Get("version-priority") {
	case "", "max":
	case "min":
		for i, j := 0, len(versions)-1; i < j; i, j = i+1, j-1 {
			versions[i], versions[j] = versions[j], versions[i]
		}
	default:
		return nil, fmt.Errorf("version-priority %q: want min or max: %w", clip(q.Get("version-priority")), errdefs.ErrInvalidRequest)
	}
	for _, v := range versions {
		if (r.IsZero() || r.Satisfies(v.ParsedVersion())) && m.o.Platform.Runs(v) {
			return v, nil
		}
	}
	return nil, fmt.Errorf("package %s has no version in %q that runs on this box: %w", id, q.Get("spec"), errdefs.ErrNotFound)
}

func (m *Market) marketplaceIndex(iu string, c *cached, q url.Values) ([]model.MarketplacePkg, error) {
	ids, err := idList(q.Get("ids"), false)
	if err != nil {
		return nil, err
	}
	page, err := positive(q, "page", 1, 1<<20)
	if err != nil {
		return nil, err
	}
	per, err := positive(q, "per-page", 20, maxPerPage)
	if err != nil {
		return nil, err
	}
	var found []*registry.Version
	if ids != nil {
		for _, id := range ids {
			if pkg := c.ver.Packages[id]; pkg != nil {
				if l := pkg.Latest(); l != nil {
					found = append(found, l)
				}
			}
		}
		sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	} else {
		found = c.cat.Search(q.Get("query"), q.Get("category"))
	}
	var eligible []*registry.Version // the best version here of each match
	for _, l := range found {
		if cat := q.Get("category"); cat != "" && !contains(l.Categories, cat) {
			continue
		}
		if best, err := c.ver.Best(l.ID, manifest.VersionRange{}, m.o.Platform); err == nil {
			eligible = append(eligible, best)
		}
	}
	out := []model.MarketplacePkg{}
	for i := (page - 1) * per; i < len(eligible) && len(out) < per; i++ {
		best := eligible[i]
		e := model.MarketplacePkg{Manifest: marketplaceManifest(best), Categories: nonNil(best.Categories),
			Versions: []string{}, DependencyMetadata: map[string]any{}, PublishedAt: best.PublishedAt.UTC().Format(time.RFC3339)}
		if best.Icon != "" {
			e.Icon, _ = registry.Resolve(iu, best.Icon)
		}
		for _, v := range c.ver.Packages[best.ID].Sorted() {
			if m.o.Platform.Runs(v) {
				e.Versions = append(e.Versions, v.Version)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// marketplaceManifest is the part of a 0.3 manifest the index holds.
func marketplaceManifest(v *registry.Version) model.MarketplaceManifest {
	return model.MarketplaceManifest{ID: v.ID, Title: v.Title, Version: v.Version, ReleaseNotes: v.ReleaseNotes,
		Description: model.MarketDescription{Short: v.Description.Short, Long: v.Description.Long}}
}

// idList reads ?ids=, a JSON array of package ids (StartOS's form).
func idList(s string, required bool) ([]string, error) {
	if s == "" {
		if required {
			return nil, fmt.Errorf("ids: want a JSON array of package ids: %w", errdefs.ErrInvalidRequest)
		}
		return nil, nil
	}
	var ids []string
	if err := json.Unmarshal([]byte(s), &ids); err != nil {
		return nil, fmt.Errorf("ids %q: want a JSON array of package ids: %w", clip(s), errdefs.ErrInvalidRequest)
	}
	if len(ids) > 1000 {
		return nil, fmt.Errorf("ids: %d ids, at most 1000: %w", len(ids), errdefs.ErrInvalidRequest)
	}
	for _, id := range ids {
		if !manifest.ValidID(id) {
			return nil, fmt.Errorf("ids: %q is not a valid package id: %w", clip(id), errdefs.ErrInvalidRequest)
		}
	}
	return ids, nil
}

func positive(q url.Values, key string, def, max int) (int, error) {
	s := q.Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("%s %q: want a whole number from 1 to %d: %w", key, clip(s), max, errdefs.ErrInvalidRequest)
	}
	return n, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
