package model

import "encoding/json"

// The types below are the StartOS 0.4 shapes of serverInfo.network and of
// packageData.<id>.{actions, tasks, serviceInterfaces, hosts, plugin}, so a
// client written for StartOS reads this document as it reads its own.
// Fields with no meaning on this box are null or empty, never absent.

// NetworkInfo is serverInfo.network.
type NetworkInfo struct {
	Wifi WifiInfo `json:"wifi"`
	// Host is the box's own web surface on the LAN (the router's TLS port
	// at <hostname>.local).
	Host Host `json:"host"`
	// Gateways are the box's network interfaces, keyed by name.
	Gateways map[string]NetworkInterfaceInfo `json:"gateways"`
	// Acme is empty: the box issues its own certificates.
	Acme            map[string]AcmeSettings `json:"acme"`
	DNS             DNSSettings             `json:"dns"`
	DefaultOutbound *string                 `json:"defaultOutbound"`
	Passthroughs    []json.RawMessage       `json:"passthroughs"`
}

// WifiInfo is always disabled: the box does not manage Wi-Fi.
type WifiInfo struct {
	Enabled    bool     `json:"enabled"`
	Interface  *string  `json:"interface"`
	SSIDs      []string `json:"ssids"`
	Selected   *string  `json:"selected"`
	LastRegion *string  `json:"lastRegion"`
}

// AcmeSettings is one ACME provider's settings.
type AcmeSettings struct {
	Contact []string `json:"contact"`
}

// DNSSettings lists the resolvers the box uses.
type DNSSettings struct {
	DHCPServers   []string `json:"dhcpServers"`
	StaticServers []string `json:"staticServers"` // nil: null (the DHCP ones are used)
}

// NetworkInterfaceInfo is one of the box's network interfaces.
type NetworkInterfaceInfo struct {
	Name   *string `json:"name"`
	Secure *bool   `json:"secure"`
	IPInfo *IPInfo `json:"ipInfo"`
	Type   *string `json:"type"`
}

// IPInfo is the addresses of one interface. Subnets are CIDR; LanIP the
// bare addresses.
type IPInfo struct {
	Name       string   `json:"name"`
	ScopeID    uint32   `json:"scopeId"`
	DeviceType *string  `json:"deviceType"`
	Subnets    []string `json:"subnets"`
	LanIP      []string `json:"lanIp"`
	WanIP      *string  `json:"wanIp"`
	NTPServers []string `json:"ntpServers"`
	DNSServers []string `json:"dnsServers"`
}

// Device classes (LshwDevice's class tag).
const (
	DeviceProcessor = "processor"
	DeviceDisplay   = "display"
)

// LshwDevice is a processor or a display. Driver goes with "display".
type LshwDevice struct {
	Class        string   `json:"class"`
	Product      *string  `json:"product"`
	Vendor       *string  `json:"vendor"`
	Capabilities []string `json:"capabilities"`
	Driver       *string  `json:"driver,omitempty"`
}

// Host is how one host (the box, or a package's interfaces) is reached:
// its bindings keyed by internal port.
type Host struct {
	Bindings       map[string]BindInfo        `json:"bindings"`
	PublicDomains  map[string]json.RawMessage `json:"publicDomains"`
	PrivateDomains map[string][]string        `json:"privateDomains"`
	PortForwards   []json.RawMessage          `json:"portForwards"`
}

// BindInfo is one internal port and the addresses it is served at.
type BindInfo struct {
	Enabled   bool               `json:"enabled"`
	Options   BindOptions        `json:"options"`
	Net       NetInfo            `json:"net"`
	Addresses DerivedAddressInfo `json:"addresses"`
}

// BindOptions say how the port wants to be exposed.
type BindOptions struct {
	PreferredExternalPort uint16         `json:"preferredExternalPort"`
	AddSSL                *AddSSLOptions `json:"addSsl"`
	Secure                *Security      `json:"secure"`
}

// AddSSLOptions: the box terminates TLS in front of a plain port.
type AddSSLOptions struct {
	PreferredExternalPort uint16          `json:"preferredExternalPort"`
	AddXForwardedHeaders  bool            `json:"addXForwardedHeaders"`
	ALPN                  json.RawMessage `json:"alpn"`
}

// Security: the port speaks TLS itself.
type Security struct {
	SSL bool `json:"ssl"`
}

// NetInfo is the box ports assigned to a binding (nil: none).
type NetInfo struct {
	AssignedPort    *uint16 `json:"assignedPort"`
	AssignedSSLPort *uint16 `json:"assignedSslPort"`
}

// DerivedAddressInfo lists every address a binding is served at.
type DerivedAddressInfo struct {
	Enabled   []string          `json:"enabled"`
	Disabled  []json.RawMessage `json:"disabled"`
	Available []HostnameInfo    `json:"available"`
}

// HostnameInfo is one address: a host name and port, TLS or not.
type HostnameInfo struct {
	SSL      bool             `json:"ssl"`
	Public   bool             `json:"public"`
	Hostname string           `json:"hostname"`
	Port     *uint16          `json:"port"`
	Metadata HostnameMetadata `json:"metadata"`
}

// HostnameMetadata tells where a hostname comes from. Here always
// {kind: "mdns", gateways}: a .local name the box publishes.
type HostnameMetadata struct {
	Kind     string   `json:"kind"`
	Gateways []string `json:"gateways"`
}

// Allowed statuses of an action (ActionMetadata.allowedStatuses).
const (
	AllowedOnlyRunning = "only-running"
	AllowedOnlyStopped = "only-stopped"
	AllowedAny         = "any"
)

// ActionMetadata is packageData.<id>.actions.<action-id>. Visibility is
// "enabled", "hidden" or {"disabled": reason}.
type ActionMetadata struct {
	Name            string          `json:"name"`
	Description     string          `json:"description"`
	Warning         *string         `json:"warning"`
	Visibility      json.RawMessage `json:"visibility"`
	AllowedStatuses string          `json:"allowedStatuses"`
	HasInput        bool            `json:"hasInput"`
	Group           *string         `json:"group"`
}

// TaskEntry is a request that the user run an action (StartOS 0.4's
// replacement for "needs config"). Nothing raises one yet; the map is
// there, empty, for clients that read it.
type TaskEntry struct {
	Task   Task `json:"task"`
	Active bool `json:"active"`
}

// Task names the action and why it should run.
type Task struct {
	PackageID string          `json:"packageId"`
	ActionID  string          `json:"actionId"`
	Severity  string          `json:"severity"`
	Reason    string          `json:"reason,omitempty"`
	When      json.RawMessage `json:"when,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

// Service interface types.
const (
	InterfaceUI  = "ui"
	InterfaceP2P = "p2p"
	InterfaceAPI = "api"
)

// ServiceInterface is packageData.<id>.serviceInterfaces.<interface-id>:
// what the manifest says of one interface, and which host binding serves
// it (hosts.<hostId>.bindings.<internalPort>).
type ServiceInterface struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Masked      bool        `json:"masked"`
	AddressInfo AddressInfo `json:"addressInfo"`
	Type        string      `json:"type"`
}

// AddressInfo points from an interface to its binding.
type AddressInfo struct {
	Username     *string `json:"username"`
	HostID       string  `json:"hostId"`
	InternalPort uint16  `json:"internalPort"`
	Scheme       *string `json:"scheme"`
	SSLScheme    *string `json:"sslScheme"`
	Suffix       string  `json:"suffix"`
}

// PackagePlugin is null-valued here: no package registers a plugin.
type PackagePlugin struct {
	URL json.RawMessage `json:"url"`
}

// MarshalJSON writes a missing url as null.
func (p PackagePlugin) MarshalJSON() ([]byte, error) {
	type plain PackagePlugin
	if len(p.URL) == 0 {
		p.URL = json.RawMessage("null")
	}
	return json.Marshal(plain(p))
}
