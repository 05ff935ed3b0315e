package model

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Document is the whole state document. Public is what clients see through
// db.dump and db.subscribe; Private never leaves the daemon.
type Document struct {
	Public  PublicDocument  `json:"public"`
	Private PrivateDocument `json:"private"`
}

// PublicDocument is the StartOS 0.4 public shape.
type PublicDocument struct {
	ServerInfo  ServerInfo                  `json:"serverInfo"`
	PackageData map[string]PackageDataEntry `json:"packageData"`
	// UI is a free-form JSON object the frontends keep their preferences in.
	UI json.RawMessage `json:"ui"`
}

// ServerInfo describes the box. ID is generated once and kept; the daemon
// fills Name, Hostname, Version, Arch, Platform and RAM at start.
type ServerInfo struct {
	ID                      string           `json:"id"`
	Name                    string           `json:"name"`
	Hostname                string           `json:"hostname"`
	Version                 string           `json:"version"`
	Arch                    string           `json:"arch"`
	Platform                string           `json:"platform"`
	RAM                     uint64           `json:"ram"`
	LastBackup              *time.Time       `json:"lastBackup"`
	StatusInfo              ServerStatusInfo `json:"statusInfo"`
	UnreadNotificationCount uint64           `json:"unreadNotificationCount"`
	NTPSynced               bool             `json:"ntpSynced"`
	Zram                    bool             `json:"zram"`
	Governor                *string          `json:"governor"`
	Language                *string          `json:"language"`
	// Keyboard is StartOS's KeyboardOptions; the box never sets a console
	// keymap, so it stays null.
	Keyboard *json.RawMessage `json:"keyboard"`
	// PackageVersionCompat is the range of StartOS versions whose packages
	// this box installs (0.3 manifests on Docker).
	PackageVersionCompat string `json:"packageVersionCompat"`
	// PostInitMigrationTodos is always {}: no migration waits for a
	// package to start.
	PostInitMigrationTodos map[string]json.RawMessage `json:"postInitMigrationTodos"`
	// Network is the box's own network: its interfaces and addresses
	// (gateways) and its web surface on the LAN (host).
	Network NetworkInfo `json:"network"`
	// PasswordHash is always "": StartOS publishes the hash, this box
	// keeps it in the private document only.
	PasswordHash string `json:"passwordHash"`
	// Pubkey is the box's own SSH identity (OpenSSH "ssh-ed25519 …" line,
	// no comment), generated once. The private half never leaves the
	// private document.
	Pubkey string `json:"pubkey"`
	// EchoipURLs is empty: the box never asks an outside service for its
	// WAN address.
	EchoipURLs []string `json:"echoipUrls"`
	// Devices are the processors (and displays, none yet) the box has.
	Devices []LshwDevice `json:"devices"`
	// Kiosk is null: there is no kiosk mode here.
	Kiosk *bool `json:"kiosk"`
	// CAFingerprint is the SHA-256 of the box's root CA certificate
	// (colon-separated hex); the certificate is at /static/local-root-ca.crt.
	CAFingerprint string `json:"caFingerprint"`
	// SMTP is the outgoing mail server (server.set-smtp), without its
	// password; nil when none is set.
	SMTP *SMTPSettings `json:"smtp"`
}

// ServerStatusInfo is what the box as a whole is busy with.
type ServerStatusInfo struct {
	// BackupProgress is set while a backup runs, keyed by package id.
	BackupProgress map[string]BackupProgress `json:"backupProgress"`
	Updated        bool                      `json:"updated"`
	UpdateProgress *FullProgress             `json:"updateProgress"`
	ShuttingDown   bool                      `json:"shuttingDown"`
	Restarting     bool                      `json:"restarting"`
}

// BackupProgress tells whether one package's backup is done, and while it
// runs how many bytes restic has read of how many.
type BackupProgress struct {
	Complete   bool   `json:"complete"`
	BytesDone  uint64 `json:"bytesDone,omitempty"`
	BytesTotal uint64 `json:"bytesTotal,omitempty"`
	Error      string `json:"error,omitempty"`
}

// PackageState is stateInfo.state: where a package is in its lifecycle.
type PackageState string

const (
	PackageInstalling PackageState = "installing"
	PackageUpdating   PackageState = "updating"
	PackageRestoring  PackageState = "restoring"
	PackageInstalled  PackageState = "installed"
	PackageRemoving   PackageState = "removing"
)

// PackageDataEntry is one installed (or installing) package.
type PackageDataEntry struct {
	StateInfo    StateInfo         `json:"stateInfo"`
	S9pk         string            `json:"s9pk"`
	StatusInfo   PackageStatusInfo `json:"statusInfo"`
	Registry     *string           `json:"registry"`
	DeveloperKey string            `json:"developerKey"`
	// Icon is the icon's URL (see StaticFiles), not its bytes.
	Icon                string                       `json:"icon"`
	StaticFiles         *StaticFiles                 `json:"staticFiles,omitempty"`
	LastBackup          *time.Time                   `json:"lastBackup"`
	CurrentDependencies map[string]CurrentDependency `json:"currentDependencies"`
	// InterfaceAddresses is where each interface answers on the LAN, keyed
	// by interface id (StartOS's interface-addresses).
	InterfaceAddresses map[string]InterfaceAddresses `json:"interfaceAddresses,omitempty"`
	// UpdateAvailable is set while a configured registry offers a newer
	// version that runs on this box.
	UpdateAvailable *UpdateAvailable `json:"updateAvailable,omitempty"`
	// Actions, ServiceInterfaces and Hosts are derived from the manifest
	// (and the LAN addresses) in StartOS 0.4's shapes; Tasks is empty
	// until something asks the user to run an action.
	Actions                map[string]ActionMetadata   `json:"actions"`
	Tasks                  map[string]TaskEntry        `json:"tasks"`
	ServiceInterfaces      map[string]ServiceInterface `json:"serviceInterfaces"`
	Hosts                  map[string]Host             `json:"hosts"`
	StoreExposedDependents []string                    `json:"storeExposedDependents"`
	OutboundGateway        *string                     `json:"outboundGateway"`
	Plugin                 PackagePlugin               `json:"plugin"`
}

// InterfaceAddresses is one interface's LAN addresses: its .local name, the
// https URL (TLS from the box's CA), the plain http URL when the package
// offers one, and raw TCP host:ports.
type InterfaceAddresses struct {
	LanAddress string   `json:"lanAddress"`
	HTTPS      string   `json:"https,omitempty"`
	HTTP       string   `json:"http,omitempty"`
	TCP        []string `json:"tcp,omitempty"`
}

// StaticFiles are the URLs of a package's icon, licence and instructions,
// as StartOS 0.3's static-files: served by content hash under
// /public/package-data/<id>/, with caching that never revalidates.
type StaticFiles struct {
	Icon         string `json:"icon"`
	License      string `json:"license"`
	Instructions string `json:"instructions"`
}

// StateInfo is StartOS's state-tagged union flattened: installing and
// restoring carry InstallingInfo, installed and removing carry Manifest,
// updating carries both (the old manifest and the install of the new one).
// Manifest is the package's manifest as JSON; the manifest package owns its
// shape.
type StateInfo struct {
	State          PackageState    `json:"state"`
	Manifest       json.RawMessage `json:"manifest,omitempty"`
	InstallingInfo *InstallingInfo `json:"installingInfo,omitempty"`
}

// InstallingInfo follows an install, update or restore.
type InstallingInfo struct {
	NewManifest json.RawMessage `json:"newManifest"`
	Progress    FullProgress    `json:"progress"`
}

// Desired run states (statusInfo.desired.main).
const (
	DesiredStopped    = "stopped"
	DesiredRunning    = "running"
	DesiredRestarting = "restarting"
	DesiredBackingUp  = "backing-up"
)

// PackageStatusInfo is the runtime status: what the user wants (Desired) and
// what the runtime last saw (Started, Health, Error).
type PackageStatusInfo struct {
	Health  map[string]HealthCheckResult `json:"health"`
	Error   *ErrorData                   `json:"error"`
	Started *time.Time                   `json:"started"`
	Desired DesiredStatus                `json:"desired"`
	// Configured is false while a package with a config spec has none saved
	// (StartOS's "needs config"); nil for a package without config.
	Configured *bool `json:"configured,omitempty"`
	// DependencyConfigErrors holds, per dependency, why its config fails
	// this package's config check (StartOS 0.3's dependency-config-errors).
	DependencyConfigErrors map[string]string `json:"dependencyConfigErrors,omitempty"`
}

// NeedsConfig reports whether the package waits for its first config.
func (s *PackageStatusInfo) NeedsConfig() bool { return s.Configured != nil && !*s.Configured }

// DesiredStatus is tagged by Main. RestartAgain goes with "restarting",
// OnComplete ("start" or "stop") with "backing-up".
type DesiredStatus struct {
	Main         string `json:"main"`
	RestartAgain *bool  `json:"restartAgain,omitempty"`
	OnComplete   string `json:"onComplete,omitempty"`
}

// Health check results.
const (
	HealthSuccess  = "success"
	HealthDisabled = "disabled"
	HealthStarting = "starting"
	HealthWaiting  = "waiting"
	HealthLoading  = "loading"
	HealthFailure  = "failure"
)

// HealthCheckResult is StartOS's NamedHealthCheckResult.
type HealthCheckResult struct {
	Name    string `json:"name"`
	Result  string `json:"result"`
	Message string `json:"message"`
}

// ErrorData is an error as clients see it.
type ErrorData struct {
	Details string `json:"details"`
	Debug   string `json:"debug"`
	// Info is StartOS's structured error info; null here.
	Info json.RawMessage `json:"info"`
}

// CurrentDependency is a dependency a running package declared. Kind is
// "exists" or "running"; HealthChecks goes with "running".
type CurrentDependency struct {
	Title        string   `json:"title"`
	Icon         string   `json:"icon"`
	VersionRange string   `json:"versionRange"`
	Kind         string   `json:"kind"`
	HealthChecks []string `json:"healthChecks,omitempty"`
}

// FullProgress is the progress of a phased job.
type FullProgress struct {
	Overall Progress        `json:"overall"`
	Phases  []NamedProgress `json:"phases"`
}

// MarshalJSON writes no phases as [] rather than null.
func (p FullProgress) MarshalJSON() ([]byte, error) {
	type plain FullProgress
	if p.Phases == nil {
		p.Phases = []NamedProgress{}
	}
	return json.Marshal(plain(p))
}

// NamedProgress is one phase of a FullProgress.
type NamedProgress struct {
	Name     string   `json:"name"`
	Progress Progress `json:"progress"`
}

// ProgressKind says which of StartOS's progress forms a Progress holds.
type ProgressKind int

const (
	ProgressNotStarted    ProgressKind = iota // null
	ProgressIndeterminate                     // false: started, nothing to measure yet
	ProgressComplete                          // true
	ProgressMeasured                          // {done, total, units}
)

// Progress is null (not started), false (started), true (complete) or
// {done, total, units}. Total is nil when unknown; Units is "bytes", "steps"
// or empty.
type Progress struct {
	Kind  ProgressKind
	Done  uint64
	Total *uint64
	Units string
}

type measuredProgress struct {
	Done  uint64  `json:"done"`
	Total *uint64 `json:"total"`
	Units *string `json:"units"`
}

// MarshalJSON writes the StartOS form for p.Kind.
func (p Progress) MarshalJSON() ([]byte, error) {
	switch p.Kind {
	case ProgressNotStarted:
		return []byte("null"), nil
	case ProgressIndeterminate:
		return []byte("false"), nil
	case ProgressComplete:
		return []byte("true"), nil
	case ProgressMeasured:
		m := measuredProgress{Done: p.Done, Total: p.Total}
		if p.Units != "" {
			m.Units = &p.Units
		}
		return json.Marshal(m)
	default:
		return nil, fmt.Errorf("progress kind %d is not one of null, false, true, measured", p.Kind)
	}
}

// UnmarshalJSON reads any of the StartOS forms.
func (p *Progress) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null":
		*p = Progress{}
		return nil
	case "false":
		*p = Progress{Kind: ProgressIndeterminate}
		return nil
	case "true":
		*p = Progress{Kind: ProgressComplete}
		return nil
	}
	var m measuredProgress
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("progress must be null, true, false or {done, total, units}: %w", err)
	}
	*p = Progress{Kind: ProgressMeasured, Done: m.Done, Total: m.Total}
	if m.Units != nil {
		p.Units = *m.Units
	}
	return nil
}

// PrivateDocument holds what never leaves the daemon. Later issues extend it.
type PrivateDocument struct {
	PasswordHash string             `json:"passwordHash,omitempty"`
	Sessions     map[string]Session `json:"sessions"`
	// Notifications are keyed by id. NotificationSeq is the last id handed
	// out, so ids are never reused even when the newest one is removed.
	Notifications   map[uint32]Notification `json:"notifications"`
	NotificationSeq uint32                  `json:"notificationSeq"`
	// DeveloperKey is the box's Ed25519 signing key (PKCS#8 PEM), if any.
	DeveloperKey string `json:"developerKey,omitempty"`
	// PackageStores is a per-package key/value store, keyed by package id.
	PackageStores map[string]json.RawMessage `json:"packageStores"`
	// PackageKeys pins each package id to the fingerprint of the developer
	// key it was first installed from; it outlives a soft uninstall, which
	// keeps the data.
	PackageKeys map[string]string `json:"packageKeys,omitempty"`
	// BackupTargets are keyed by target id; BackupSchedule is nil when no
	// schedule was ever set.
	BackupTargets  map[string]BackupTargetPrivate `json:"backupTargets,omitempty"`
	BackupSchedule *BackupSchedulePrivate         `json:"backupSchedule,omitempty"`
	// SSHKeys are the owner's authorized SSH keys, keyed by fingerprint;
	// the authorized_keys file is rewritten from them.
	SSHKeys map[string]StoredSSHKey `json:"sshKeys,omitempty"`
	// MetricsTokens are the bearer tokens that may read /metrics, keyed
	// by id.
	MetricsTokens map[string]StoredMetricsToken `json:"metricsTokens,omitempty"`
	// SSHPrivkey is the box's own SSH identity (OpenSSH PEM); its public
	// half is serverInfo.pubkey.
	SSHPrivkey string `json:"sshPrivkey,omitempty"`
	// SMTPPassword is serverInfo.smtp's password ("" for none).
	SMTPPassword string `json:"smtpPassword,omitempty"`
	// Webhooks receive notifications as JSON, keyed by id.
	Webhooks map[string]StoredWebhook `json:"webhooks,omitempty"`
	// Registries are the configured package registries, keyed by URL; nil
	// (never configured) is seeded with the default list at start.
	Registries map[string]RegistryPin `json:"registries"`
}

// Session is one logged-in client. Its key is the session id (a hash of the
// token the client holds).
type Session struct {
	LoggedIn   time.Time `json:"loggedIn"`
	LastActive time.Time `json:"lastActive"`
	UserAgent  string    `json:"userAgent,omitempty"`
}

// Normalize is Document.Normalize for one entry; it reports whether it
// changed anything.
func (e *PackageDataEntry) Normalize() bool {
	changed := false
	if e.StatusInfo.Health == nil {
		e.StatusInfo.Health = map[string]HealthCheckResult{}
		changed = true
	}
	if e.CurrentDependencies == nil {
		e.CurrentDependencies = map[string]CurrentDependency{}
		changed = true
	}
	if e.StatusInfo.Desired.Main == "" {
		e.StatusInfo.Desired.Main = DesiredStopped
		changed = true
	}
	changed = emptyMap(&e.Actions) || changed
	changed = emptyMap(&e.Tasks) || changed
	changed = emptyMap(&e.ServiceInterfaces) || changed
	changed = emptyMap(&e.Hosts) || changed
	if e.StoreExposedDependents == nil {
		e.StoreExposedDependents = []string{}
		changed = true
	}
	return changed
}

// emptyMap makes a nil map empty and reports whether it did.
func emptyMap[K comparable, V any](m *map[K]V) bool {
	if *m != nil {
		return false
	}
	*m = map[K]V{}
	return true
}

// emptySlice makes a nil slice empty.
func emptySlice[V any](s *[]V) {
	if *s == nil {
		*s = []V{}
	}
}

// Normalize gives serverInfo's collections their empty values, so every
// field StartOS declares is present as {} or [] rather than null.
func (si *ServerInfo) Normalize() {
	emptyMap(&si.PostInitMigrationTodos)
	emptySlice(&si.EchoipURLs)
	emptySlice(&si.Devices)
	for i := range si.Devices {
		emptySlice(&si.Devices[i].Capabilities)
	}
	n := &si.Network
	emptySlice(&n.Wifi.SSIDs)
	n.Host.Normalize()
	emptyMap(&n.Gateways)
	emptyMap(&n.Acme)
	emptySlice(&n.DNS.DHCPServers)
	emptySlice(&n.Passthroughs)
}

// Normalize gives a host's collections their empty values.
func (h *Host) Normalize() {
	emptyMap(&h.Bindings)
	emptyMap(&h.PublicDomains)
	emptyMap(&h.PrivateDomains)
	emptySlice(&h.PortForwards)
	for k, b := range h.Bindings {
		if b.Addresses.Enabled == nil || b.Addresses.Disabled == nil || b.Addresses.Available == nil {
			emptySlice(&b.Addresses.Enabled)
			emptySlice(&b.Addresses.Disabled)
			emptySlice(&b.Addresses.Available)
			h.Bindings[k] = b
		}
	}
}

// Normalize replaces nil collections with empty ones, so the document always
// has the same shape ({} rather than null) and diffs stay small.
func (d *Document) Normalize() {
	p := &d.Public
	if p.PackageData == nil {
		p.PackageData = map[string]PackageDataEntry{}
	}
	for id, e := range p.PackageData {
		if e.Normalize() {
			p.PackageData[id] = e
		}
	}
	if len(p.UI) == 0 {
		p.UI = json.RawMessage("{}")
	}
	p.ServerInfo.Normalize()
	v := &d.Private
	if v.Sessions == nil {
		v.Sessions = map[string]Session{}
	}
	if v.Notifications == nil {
		v.Notifications = map[uint32]Notification{}
	}
	if v.PackageStores == nil {
		v.PackageStores = map[string]json.RawMessage{}
	}
}

// Clone is a deep copy of e, for readers of a shared revision. Like the
// state store's copies, it shares json.RawMessage bytes (replaced, never
// edited in place), clipped so an append reallocates. A test in
// startos/db checks that it reaches every field.
func (e PackageDataEntry) Clone() PackageDataEntry {
	c := e
	c.StateInfo.Manifest = clipRaw(e.StateInfo.Manifest)
	if ii := e.StateInfo.InstallingInfo; ii != nil {
		n := *ii
		n.NewManifest = clipRaw(ii.NewManifest)
		n.Progress = ii.Progress.clone()
		c.StateInfo.InstallingInfo = &n
	}
	c.StatusInfo.Health = cloneMap(e.StatusInfo.Health)
	c.StatusInfo.Error = clonePtr(e.StatusInfo.Error)
	c.StatusInfo.Started = clonePtr(e.StatusInfo.Started)
	c.StatusInfo.Desired.RestartAgain = clonePtr(e.StatusInfo.Desired.RestartAgain)
	c.StatusInfo.Configured = clonePtr(e.StatusInfo.Configured)
	c.StatusInfo.DependencyConfigErrors = cloneMap(e.StatusInfo.DependencyConfigErrors)
	c.Registry = clonePtr(e.Registry)
	c.StaticFiles = clonePtr(e.StaticFiles)
	c.LastBackup = clonePtr(e.LastBackup)
	c.UpdateAvailable = clonePtr(e.UpdateAvailable)
	if e.CurrentDependencies != nil {
		c.CurrentDependencies = make(map[string]CurrentDependency, len(e.CurrentDependencies))
		for k, d := range e.CurrentDependencies {
			if d.HealthChecks != nil {
				d.HealthChecks = append([]string{}, d.HealthChecks...)
			}
			c.CurrentDependencies[k] = d
		}
	}
	c.Actions = cloneMap(e.Actions)
	for k, a := range c.Actions {
		a.Warning, a.Group = clonePtr(a.Warning), clonePtr(a.Group)
		a.Visibility = clipRaw(a.Visibility)
		c.Actions[k] = a
	}
	c.Tasks = cloneMap(e.Tasks)
	for k, t := range c.Tasks {
		t.Task.When, t.Task.Input = clipRaw(t.Task.When), clipRaw(t.Task.Input)
		c.Tasks[k] = t
	}
	c.ServiceInterfaces = cloneMap(e.ServiceInterfaces)
	for k, si := range c.ServiceInterfaces {
		a := &si.AddressInfo
		a.Username, a.Scheme, a.SSLScheme = clonePtr(a.Username), clonePtr(a.Scheme), clonePtr(a.SSLScheme)
		c.ServiceInterfaces[k] = si
	}
	if e.Hosts != nil {
		c.Hosts = make(map[string]Host, len(e.Hosts))
		for k, h := range e.Hosts {
			c.Hosts[k] = h.Clone()
		}
	}
	c.StoreExposedDependents = slices.Clone(e.StoreExposedDependents)
	c.OutboundGateway = clonePtr(e.OutboundGateway)
	c.Plugin.URL = clipRaw(e.Plugin.URL)
	if e.InterfaceAddresses != nil {
		c.InterfaceAddresses = make(map[string]InterfaceAddresses, len(e.InterfaceAddresses))
		for k, a := range e.InterfaceAddresses {
			a.TCP = slices.Clone(a.TCP)
			c.InterfaceAddresses[k] = a
		}
	}
	return c
}

func (p FullProgress) clone() FullProgress {
	c := p
	c.Overall.Total = clonePtr(p.Overall.Total)
	if p.Phases != nil {
		c.Phases = make([]NamedProgress, len(p.Phases))
		for i, ph := range p.Phases {
			ph.Progress.Total = clonePtr(ph.Progress.Total)
			c.Phases[i] = ph
		}
	}
	return c
}

func clipRaw(r json.RawMessage) json.RawMessage {
	if r == nil {
		return nil
	}
	return r[:len(r):len(r)]
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Clone is a deep copy of h.
func (h Host) Clone() Host {
	c := h
	c.PublicDomains = cloneMap(h.PublicDomains)
	if h.PrivateDomains != nil {
		c.PrivateDomains = make(map[string][]string, len(h.PrivateDomains))
		for k, v := range h.PrivateDomains {
			c.PrivateDomains[k] = slices.Clone(v)
		}
	}
	c.PortForwards = slices.Clone(h.PortForwards)
	if h.Bindings != nil {
		c.Bindings = make(map[string]BindInfo, len(h.Bindings))
		for k, b := range h.Bindings {
			if b.Options.AddSSL != nil {
				o := *b.Options.AddSSL
				o.ALPN = clipRaw(o.ALPN)
				b.Options.AddSSL = &o
			}
			b.Options.Secure = clonePtr(b.Options.Secure)
			b.Net.AssignedPort = clonePtr(b.Net.AssignedPort)
			b.Net.AssignedSSLPort = clonePtr(b.Net.AssignedSSLPort)
			b.Addresses.Enabled = slices.Clone(b.Addresses.Enabled)
			b.Addresses.Disabled = slices.Clone(b.Addresses.Disabled)
			if b.Addresses.Available != nil {
				av := make([]HostnameInfo, len(b.Addresses.Available))
				for i, hi := range b.Addresses.Available {
					hi.Port = clonePtr(hi.Port)
					hi.Metadata.Gateways = slices.Clone(hi.Metadata.Gateways)
					av[i] = hi
				}
				b.Addresses.Available = av
			}
			c.Bindings[k] = b
		}
	}
	return c
}
