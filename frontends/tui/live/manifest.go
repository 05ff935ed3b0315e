package live

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/startos-go/startos/startos/model"
)

// Manifest is the part of a package manifest (manifest.json, camelCase keys,
// as the state document carries it) that the console shows. Decoding is
// lenient: a key of an unexpected shape is left empty rather than hiding the
// package.
type Manifest struct {
	ID           string                 `json:"id"`
	Title        string                 `json:"title"`
	Version      string                 `json:"version"`
	Description  Description            `json:"description"`
	HealthChecks map[string]HealthCheck `json:"healthChecks"`
	Interfaces   map[string]Interface   `json:"interfaces"`
	Actions      map[string]Action      `json:"actions"`
	Dependencies map[string]Dependency  `json:"dependencies"`
	Alerts       Alerts                 `json:"alerts"`
}

// Description is the short and long text of a package.
type Description struct {
	Short string `json:"short"`
	Long  string `json:"long"`
}

// HealthCheck is a declared check; its result lives in statusInfo.health.
type HealthCheck struct {
	Name           string `json:"name"`
	SuccessMessage string `json:"successMessage"`
}

// Interface is a network interface of the service. Where it answers is
// the library's to say (package.info).
type Interface struct {
	Name string `json:"name"`
}

// Action is a command the user can run.
type Action struct {
	Name            string          `json:"name"`
	Description     string          `json:"description"`
	Warning         string          `json:"warning"`
	AllowedStatuses []string        `json:"allowedStatuses"`
	InputSpec       json.RawMessage `json:"inputSpec"`
}

// HasInput reports whether the action takes a form.
func (a Action) HasInput() bool {
	s := bytes.TrimSpace(a.InputSpec)
	return len(s) > 0 && !bytes.Equal(s, []byte("null")) && !bytes.Equal(s, []byte("{}"))
}

// Dependency is another package this one needs. Whether it is satisfied
// is the library's to judge (package.info).
type Dependency struct {
	Version     string `json:"version"`
	Description string `json:"description"`
}

// Alerts are messages to show before an operation.
type Alerts struct {
	Install   string `json:"install"`
	Uninstall string `json:"uninstall"`
	Restore   string `json:"restore"`
	Start     string `json:"start"`
	Stop      string `json:"stop"`
}

// ActionIDs returns the action ids sorted by name, then id.
func (m *Manifest) ActionIDs() []string {
	return sortedKeys(m.Actions, func(a Action) string { return a.Name })
}

func sortedKeys[V any](m map[string]V, name func(V) string) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := strings.Compare(strings.ToLower(name(m[a])), strings.ToLower(name(m[b]))); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return ids
}

// decodeManifests picks apart each package's manifest: stateInfo.manifest,
// or installingInfo.newManifest while installing. prev holds the last
// revision's results; an unchanged manifest is reused rather than decoded
// again, since most revisions touch only status.
func decodeManifests(doc *model.PublicDocument, prev map[string]manifestCache) (map[string]*Manifest, map[string]manifestCache) {
	out := make(map[string]*Manifest, len(doc.PackageData))
	cache := make(map[string]manifestCache, len(doc.PackageData))
	for id, e := range doc.PackageData {
		raw := e.StateInfo.Manifest
		if len(raw) == 0 && e.StateInfo.InstallingInfo != nil {
			raw = e.StateInfo.InstallingInfo.NewManifest
		}
		if c, ok := prev[id]; ok && bytes.Equal(c.raw, raw) {
			out[id], cache[id] = c.m, c
			continue
		}
		m := &Manifest{}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, m); err != nil {
				// A manifest of another shape: keep what decoded, and the id.
				m = decodeLoosely(raw)
			}
		}
		if m.ID == "" {
			m.ID = id
		}
		out[id], cache[id] = m, manifestCache{raw: raw, m: m}
	}
	return out, cache
}

type manifestCache struct {
	raw json.RawMessage
	m   *Manifest
}

// decodeLoosely decodes each top-level key on its own, so one odd key does
// not lose the title and version.
func decodeLoosely(raw json.RawMessage) *Manifest {
	var parts map[string]json.RawMessage
	m := &Manifest{}
	if json.Unmarshal(raw, &parts) != nil {
		return m
	}
	for k, v := range parts {
		one, _ := json.Marshal(map[string]json.RawMessage{k: v})
		var part Manifest
		if json.Unmarshal(one, &part) == nil {
			_ = json.Unmarshal(one, m)
		}
	}
	return m
}
