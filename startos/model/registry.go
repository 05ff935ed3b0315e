package model

import "time"

// RegistryPin is one configured registry (private.registries, keyed by
// URL): the key it is pinned to and the newest index the box has accepted,
// so an older one is refused (rollback).
type RegistryPin struct {
	URL         string    `json:"url"`
	Fingerprint string    `json:"fingerprint,omitempty"` // "" until first fetched (trust on first use)
	Key         string    `json:"key,omitempty"`         // "ed25519:<base64>"
	Sequence    uint64    `json:"sequence"`
	Digest      string    `json:"digest,omitempty"`
	Added       time.Time `json:"added"`
	FetchedAt   time.Time `json:"fetchedAt,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	// Notified is the newest version per package id an update
	// notification was raised for, so each new version is told once.
	Notified map[string]string `json:"notified,omitempty"`
}

// UpdateAvailable is packageData.<id>.updateAvailable: a newer version in
// a configured registry that runs on this box.
type UpdateAvailable struct {
	Version      string `json:"version"`
	Registry     string `json:"registry"`
	ReleaseNotes string `json:"releaseNotes,omitempty"`
}

// RegistryAddParams are the params of registry.add. Without Fingerprint
// the registry's key is trusted on first use and returned.
type RegistryAddParams struct {
	URL         string `json:"url"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// RegistryAddResult is the key the registry is pinned to.
type RegistryAddResult struct {
	Fingerprint string `json:"fingerprint"`
}

// RegistryURLParams name one registry.
type RegistryURLParams struct {
	URL string `json:"url"`
}

// RegistryRefreshParams: URL empty refreshes every registry.
type RegistryRefreshParams struct {
	URL string `json:"url,omitempty"`
}

// RegistryInfo is one registry as registry.list shows it.
type RegistryInfo struct {
	URL         string    `json:"url"`
	Name        string    `json:"name,omitempty"`
	Fingerprint string    `json:"fingerprint"`
	Sequence    uint64    `json:"sequence"`
	Expires     time.Time `json:"expires,omitzero"`
	FetchedAt   time.Time `json:"fetchedAt,omitzero"`
	Packages    int       `json:"packages"`
	LastError   string    `json:"lastError,omitempty"`
	// Expired: the cached index is past its expiry; nothing is installed
	// from it until a refresh succeeds.
	Expired bool `json:"expired,omitempty"`
}

// PackageSearchParams are the params of package.search.
type PackageSearchParams struct {
	Query    string `json:"query"`
	Category string `json:"category,omitempty"`
	Registry string `json:"registry,omitempty"`
}

// MarketPackage is one package version a registry offers, as search and
// the marketplace show it.
type MarketPackage struct {
	ID               string   `json:"id"`
	Version          string   `json:"version"`
	Title            string   `json:"title"`
	ShortDescription string   `json:"shortDescription"`
	LongDescription  string   `json:"longDescription,omitempty"`
	ReleaseNotes     string   `json:"releaseNotes,omitempty"`
	Categories       []string `json:"categories,omitempty"`
	Arch             []string `json:"arch"`
	OSVersion        string   `json:"osVersion,omitempty"`
	Size             int64    `json:"size"`
	Icon             string   `json:"icon,omitempty"` // absolute URL
	Registry         string   `json:"registry"`
	// Installed is the installed version, if any; Runs says whether this
	// version runs on this box (arch, OS version).
	Installed string `json:"installed,omitempty"`
	Runs      bool   `json:"runs"`
	// Stale: the registry's cached index expired; it cannot be installed
	// from until registry.refresh fetches a current one.
	Stale bool `json:"stale,omitempty"`
}

// PackageUpdateParams are the params of package.update: Version is a range
// (default: the newest that runs here).
type PackageUpdateParams struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
}

// PackageUpdateInfo is one update package.updates lists.
type PackageUpdateInfo struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Installed string `json:"installed"`
	UpdateAvailable
}

// RegistryPackageGetParams are StartOS's registry.package.get params.
type RegistryPackageGetParams struct {
	Registry      string `json:"registry,omitempty"`
	ID            string `json:"id"`
	TargetVersion string `json:"targetVersion,omitempty"`
	OtherVersions string `json:"otherVersions,omitempty"` // none (default), short, full
}

// RegistryIndexParams name a registry (default: the first).
type RegistryIndexParams struct {
	Registry string `json:"registry,omitempty"`
}

// The StartOS 0.4 registry shapes (registry.package.index / get): a
// version's s9pk is listed with its URL, commitment and signatures keyed by
// the signer's key.

// PackageVersionInfo is one version in StartOS's shape.
type PackageVersionInfo struct {
	Title        string            `json:"title"`
	Icon         string            `json:"icon,omitempty"`
	Description  MarketDescription `json:"description"`
	ReleaseNotes string            `json:"releaseNotes"`
	OSVersion    string            `json:"osVersion,omitempty"`
	Categories   []string          `json:"categories"`
	S9pk         S9pkInfo          `json:"s9pk"`
	Hardware     HardwareReq       `json:"hardwareRequirements"`
}

// S9pkInfo is where a version's archive is and what it must be.
type S9pkInfo struct {
	PublishedAt any               `json:"publishedAt"`
	URLs        []string          `json:"urls"`
	Size        int64             `json:"size"`
	Commitment  any               `json:"commitment"`
	Signatures  map[string]string `json:"signatures"`
}

// HardwareReq lists the architectures a version runs on.
type HardwareReq struct {
	Arch []string `json:"arch"`
}

// PackageIndexEntry is one id in registry.package.index.
type PackageIndexEntry struct {
	Authorized []string                      `json:"authorized"`
	Categories []string                      `json:"categories"`
	Versions   map[string]PackageVersionInfo `json:"versions"`
}

// PackageIndex is registry.package.index's answer.
type PackageIndex struct {
	Categories []string                     `json:"categories"`
	Packages   map[string]PackageIndexEntry `json:"packages"`
}

// PackageGet is registry.package.get's answer.
type PackageGet struct {
	Categories    []string                      `json:"categories"`
	Best          map[string]PackageVersionInfo `json:"best"`
	OtherVersions map[string]map[string]string  `json:"otherVersions,omitempty"`
}

// MarketDescription is a package's short and long description.
type MarketDescription struct {
	Short string `json:"short"`
	Long  string `json:"long"`
}

// MarketplaceGetParams are StartOS 0.3's marketplace.get params: a URL
// under a configured registry, <registry>/package/v0/<route>?<query>.
type MarketplaceGetParams struct {
	URL string `json:"url"`
}

// MarketplaceInfo is marketplace.get package/v0/info.
type MarketplaceInfo struct {
	Name       string   `json:"name"`
	Categories []string `json:"categories"`
}

// MarketplacePkg is one entry of marketplace.get package/v0/index, StartOS
// 0.3's shape. Icon is the icon's URL (StartOS sends a data URL; this box
// does not fetch for a client); license and instructions are not in the
// signed index and stay empty.
type MarketplacePkg struct {
	Icon               string              `json:"icon"`
	License            string              `json:"license"`
	Instructions       string              `json:"instructions"`
	Manifest           MarketplaceManifest `json:"manifest"`
	Categories         []string            `json:"categories"`
	Versions           []string            `json:"versions"`
	DependencyMetadata map[string]any      `json:"dependency-metadata"`
	PublishedAt        string              `json:"published-at"`
}

// MarketplaceManifest is the part of a 0.3 manifest a signed index holds.
type MarketplaceManifest struct {
	ID           string            `json:"id"`
	Title        string            `json:"title"`
	Version      string            `json:"version"`
	Description  MarketDescription `json:"description"`
	ReleaseNotes string            `json:"release-notes"`
}
