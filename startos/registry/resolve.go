package registry

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
)

// Platform is what a box can run: its architecture and OS version.
type Platform struct {
	Arch      string
	OSVersion manifest.Version // zero: any
}

// Runs reports whether v runs on p.
func (p Platform) Runs(v *Version) bool {
	if p.Arch != "" && !slices.Contains(v.Arch, p.Arch) {
		return false
	}
	if v.OSVersion != "" && !p.OSVersion.IsZero() {
		min, err := manifest.ParseVersion(v.OSVersion)
		if err != nil || min.Compare(p.OSVersion) > 0 {
			return false
		}
	}
	return true
}

// Sorted returns a package's versions, newest first.
func (p *Package) Sorted() []*Version {
	out := make([]*Version, 0, len(p.Versions))
	for _, v := range p.Versions {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].parsed.Compare(out[j].parsed) > 0 })
	return out
}

// Best returns the newest version of id that satisfies r (zero: any) and
// runs on p.
func (idx *Index) Best(id string, r manifest.VersionRange, p Platform) (*Version, error) {
	pkg := idx.Packages[id]
	if pkg == nil {
		return nil, fmt.Errorf("no package %q in the registry: %w", clip(id), errdefs.ErrNotFound)
	}
	var other []string
	for _, v := range pkg.Sorted() {
		if !r.IsZero() && !r.Satisfies(v.parsed) {
			continue
		}
		if !p.Runs(v) {
			other = append(other, fmt.Sprintf("%s (%s, OS %s or later)", v.Version, strings.Join(v.Arch, "/"), orAny(v.OSVersion)))
			continue
		}
		return v, nil
	}
	want := "any version"
	if !r.IsZero() {
		want = "version " + r.String()
	}
	if len(other) > 0 {
		return nil, fmt.Errorf("package %s: no %s runs on this box (%s, OS %s); the registry has %s: %w",
			id, want, p.Arch, p.OSVersion, strings.Join(other, ", "), errdefs.ErrNotFound)
	}
	return nil, fmt.Errorf("package %s has no %s in the registry: %w", id, want, errdefs.ErrNotFound)
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// Newer returns the newest version of id newer than installed that runs on
// p, or nil: a downgrade is never offered.
func (idx *Index) Newer(id string, installed manifest.Version, p Platform) *Version {
	v, err := idx.Best(id, manifest.VersionRange{}, p)
	if err != nil || v.parsed.Compare(installed) <= 0 {
		return nil
	}
	return v
}

// Categories returns every category the latest versions name, sorted.
func (idx *Index) Categories() []string {
	seen := map[string]bool{}
	for _, p := range idx.Packages {
		if l := p.Latest(); l != nil {
			for _, c := range l.Categories {
				seen[c] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Latest returns the newest version of p (whatever it runs on), or nil.
func (p *Package) Latest() *Version {
	var best *Version
	for _, v := range p.Versions {
		if best == nil || v.parsed.Compare(best.parsed) > 0 {
			best = v
		}
	}
	return best
}

// Catalog is an index prepared for search: the latest version of each
// package with its text lowercased once.
type Catalog struct {
	entries []catalogEntry
}

type catalogEntry struct {
	v    *Version
	text string
}

// NewCatalog prepares idx for Search.
func NewCatalog(idx *Index) *Catalog {
	c := &Catalog{entries: make([]catalogEntry, 0, len(idx.Packages))}
	for _, p := range idx.Packages {
		l := p.Latest()
		if l == nil {
			continue
		}
		text := strings.ToLower(strings.Join([]string{l.ID, l.Title, l.Description.Short, strings.Join(l.Categories, " ")}, "\n"))
		c.entries = append(c.entries, catalogEntry{v: l, text: text})
	}
	sort.Slice(c.entries, func(i, j int) bool { return c.entries[i].v.ID < c.entries[j].v.ID })
	return c
}

// Search returns the latest versions whose id, title, short description
// or categories contain every word of query (case-insensitive), in id order,
// limited to category when it is not empty. An empty query lists all.
func (c *Catalog) Search(query, category string) []*Version {
	words := strings.Fields(strings.ToLower(query))
	var out []*Version
	for _, e := range c.entries {
		if category != "" && !slices.Contains(e.v.Categories, category) {
			continue
		}
		ok := true
		for _, w := range words {
			if !strings.Contains(e.text, w) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, e.v)
		}
	}
	return out
}
