// Package manifest reads and checks package manifests: the StartOS 0.3
// manifest.yaml keys (kebab-case), written as YAML or JSON, so a wrapper
// written for StartOS 0.3 reads as it is. Inside an archive the same manifest
// is stored as manifest.json with camelCase keys.
//
// Parse reports every problem at once, each with its key path; unknown keys are
// warnings. Procedures must be docker procedures: StartOS's JavaScript
// procedures ("type: script") are refused by name. The "compat" system image
// does not exist here; its config and backup commands are recognised and
// marked Native for the daemon to carry out itself.
package manifest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Manifest is a package manifest. The yaml tags are the kebab-case keys a
// developer writes; the json tags are the camelCase keys of manifest.json in an
// archive and of the state document.
type Manifest struct {
	ID           string  `yaml:"id" json:"id"`
	Title        string  `yaml:"title" json:"title"`
	Version      Version `yaml:"version" json:"version"`
	EOSVersion   Version `yaml:"eos-version,alias=min-os-version" json:"eosVersion,omitzero"`
	GitHash      string  `yaml:"git-hash" json:"gitHash,omitempty"`
	ReleaseNotes string  `yaml:"release-notes" json:"releaseNotes"`
	License      string  `yaml:"license" json:"license"`

	WrapperRepo   string `yaml:"wrapper-repo" json:"wrapperRepo"`
	UpstreamRepo  string `yaml:"upstream-repo" json:"upstreamRepo"`
	SupportSite   string `yaml:"support-site" json:"supportSite,omitempty"`
	MarketingSite string `yaml:"marketing-site" json:"marketingSite,omitempty"`
	DonationURL   string `yaml:"donation-url" json:"donationUrl,omitempty"`

	Description Description `yaml:"description" json:"description"`
	Assets      Assets      `yaml:"assets" json:"assets,omitzero"`
	// Build lists shell commands `start-sdk pack` runs in the package folder
	// before it builds images (StartOS 0.3 kept them only as information).
	Build []string `yaml:"build" json:"build,omitempty"`
	// Images says how each image is built; without it the package has one
	// image, "main", built from ./Dockerfile. (An extension of the 0.3 keys,
	// shaped like StartOS 0.4's images.)
	Images map[string]*ImageSpec `yaml:"images" json:"images,omitempty"`

	Main         Procedure               `yaml:"main" json:"main"`
	Containers   *Containers             `yaml:"containers" json:"containers,omitempty"`
	HealthChecks map[string]*HealthCheck `yaml:"health-checks" json:"healthChecks"`
	Config       *ConfigActions          `yaml:"config" json:"config,omitempty"`
	Properties   *Procedure              `yaml:"properties" json:"properties,omitempty"`
	Volumes      map[string]*Volume      `yaml:"volumes" json:"volumes"`
	Interfaces   map[string]*Interface   `yaml:"interfaces" json:"interfaces"`
	Backup       BackupActions           `yaml:"backup" json:"backup"`
	Migrations   Migrations              `yaml:"migrations" json:"migrations,omitzero"`
	Actions      map[string]*Action      `yaml:"actions" json:"actions,omitempty"`
	Dependencies map[string]*Dependency  `yaml:"dependencies" json:"dependencies,omitempty"`
	Alerts       Alerts                  `yaml:"alerts" json:"alerts,omitzero"`

	HardwareRequirements HardwareRequirements `yaml:"hardware-requirements" json:"hardwareRequirements,omitzero"`
	Replaces             []string             `yaml:"replaces" json:"replaces,omitempty"`
}

// Description is shown in the marketplace: short at most 160 characters, long
// at most 5000.
type Description struct {
	Short string `yaml:"short" json:"short"`
	Long  string `yaml:"long" json:"long"`
}

// Assets are paths in the package folder that `start-sdk pack` reads. Empty
// fields take the defaults of the Default* constants.
type Assets struct {
	License      string `yaml:"license" json:"license,omitempty"`
	Instructions string `yaml:"instructions" json:"instructions,omitempty"`
	Icon         string `yaml:"icon" json:"icon,omitempty"`
	DockerImages string `yaml:"docker-images" json:"dockerImages,omitempty"`
	Assets       string `yaml:"assets" json:"assets,omitempty"`
	Scripts      string `yaml:"scripts" json:"scripts,omitempty"`
}

// Default asset paths, as in StartOS 0.3 (instructions.md rather than
// INSTRUCTIONS.md, which is what `start-sdk init` writes; both are looked for).
const (
	DefaultLicense      = "LICENSE.md"
	DefaultInstructions = "instructions.md"
	DefaultIcon         = "icon.png"
	DefaultAssets       = "assets"
)

// LicensePath returns the license file to pack.
func (a Assets) LicensePath() string { return orDefault(a.License, DefaultLicense) }

// InstructionsPath returns the instructions file to pack.
func (a Assets) InstructionsPath() string { return orDefault(a.Instructions, DefaultInstructions) }

// IconPath returns the icon file to pack.
func (a Assets) IconPath() string { return orDefault(a.Icon, DefaultIcon) }

// AssetsPath returns the folder holding one sub-folder per assets volume.
func (a Assets) AssetsPath() string { return orDefault(a.Assets, DefaultAssets) }

// IconExt returns the icon's extension without the dot ("png").
func (a Assets) IconExt() string {
	p := a.IconPath()
	if i := strings.LastIndexByte(p, '.'); i >= 0 && !strings.ContainsRune(p[i:], '/') {
		return strings.ToLower(p[i+1:])
	}
	return "png"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ImageSpec says how `start-sdk pack` gets one image: built from a Dockerfile
// through the Docker Engine, or taken from an existing tag.
type ImageSpec struct {
	// Dockerfile defaults to "Dockerfile" for the image "main" and
	// "Dockerfile.<image-id>" for others, relative to Context.
	Dockerfile string `yaml:"dockerfile" json:"dockerfile,omitempty"`
	// Context is the build context folder, relative to the package folder;
	// default ".".
	Context   string            `yaml:"context" json:"context,omitempty"`
	BuildArgs map[string]string `yaml:"build-args" json:"buildArgs,omitempty"`
	// DockerTag takes an image already in the engine instead of building.
	DockerTag string `yaml:"docker-tag" json:"dockerTag,omitempty"`
}

// DockerfileFor returns the Dockerfile path (relative to the context) for
// image id.
func (s *ImageSpec) DockerfileFor(id string) string {
	if s != nil && s.Dockerfile != "" {
		return s.Dockerfile
	}
	if id == MainImage {
		return "Dockerfile"
	}
	return "Dockerfile." + id
}

// ContextDir returns the build context relative to the package folder.
func (s *ImageSpec) ContextDir() string {
	if s != nil && s.Context != "" {
		return s.Context
	}
	return "."
}

// MainImage is the image id a package has when it declares no images.
const MainImage = "main"

// ImageIDs returns the package's image ids, sorted.
func (m *Manifest) ImageIDs() []string {
	if len(m.Images) == 0 {
		return []string{MainImage}
	}
	return sortedKeys(m.Images)
}

// DockerTag is the tag an image has in the engine, as in StartOS 0.3:
// start9/<package-id>/<image-id>:<version>.
func DockerTag(pkgID, imageID string, v Version) string {
	return "start9/" + pkgID + "/" + imageID + ":" + v.String()
}

// ProcedureType is "docker", or "script" (refused).
type ProcedureType string

// Procedure types.
const (
	ProcedureDocker ProcedureType = "docker"
	ProcedureScript ProcedureType = "script"
)

// Procedure is a StartOS 0.3 docker procedure: a command run in a new
// container of one of the package's images, or with Inject in the running
// main container.
type Procedure struct {
	Type            ProcedureType     `yaml:"type" json:"type"`
	Image           string            `yaml:"image" json:"image"`
	System          bool              `yaml:"system" json:"system,omitempty"`
	Entrypoint      string            `yaml:"entrypoint" json:"entrypoint"`
	Args            []string          `yaml:"args" json:"args,omitempty"`
	Inject          bool              `yaml:"inject" json:"inject,omitempty"`
	Mounts          map[string]string `yaml:"mounts" json:"mounts,omitempty"`
	IOFormat        IOFormat          `yaml:"io-format" json:"ioFormat,omitempty"`
	SigtermTimeout  Duration          `yaml:"sigterm-timeout" json:"sigtermTimeout,omitempty"`
	ShmSizeMB       uint64            `yaml:"shm-size-mb" json:"shmSizeMb,omitempty"`
	GPUAcceleration bool              `yaml:"gpu-acceleration" json:"gpuAcceleration,omitempty"`

	// Native is set when the procedure runs the compat system image for a
	// duty the daemon performs itself. It is derived, never read from
	// manifest.yaml.
	Native NativeOp `yaml:"-" json:"native,omitempty"`
}

// NativeOp names a compat-image duty the daemon carries out natively.
type NativeOp string

// The compat commands that are recognised.
const (
	NativeConfigGet         NativeOp = "config-get"
	NativeConfigSet         NativeOp = "config-set"
	NativeBackupCreate      NativeOp = "backup-create"
	NativeBackupRestore     NativeOp = "backup-restore"
	NativeProperties        NativeOp = "properties"
	NativeDependencyCheck   NativeOp = "dependency-check"
	NativeDependencyAutoCfg NativeOp = "dependency-auto-configure"
)

// CompatImage is StartOS's system image whose duties are done natively.
const CompatImage = "compat"

// IOFormat is how a procedure's stdin and stdout are encoded.
type IOFormat string

// The formats StartOS 0.3 knows.
var ioFormats = []IOFormat{"json", "json-pretty", "yaml", "cbor", "toml", "toml-pretty"}

// Duration is a StartOS duration written with units: "30s", "1m", "500ms",
// "1.5h", "2d".
type Duration time.Duration

// ParseDuration reads a duration with units (ns, us, µs, ms, s, m, h, d).
func ParseDuration(s string) (Duration, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, fmt.Errorf("invalid duration %q: want a number with units, such as 30s", s)
	}
	num, unit := s[:i], s[i:]
	var scale time.Duration
	switch unit {
	case "d":
		scale = 24 * time.Hour
	case "h":
		scale = time.Hour
	case "m":
		scale = time.Minute
	case "s":
		scale = time.Second
	case "ms":
		scale = time.Millisecond
	case "us", "µs":
		scale = time.Microsecond
	case "ns":
		scale = time.Nanosecond
	default:
		return 0, fmt.Errorf("invalid duration %q: unknown unit %q", s, unit)
	}
	if strings.Contains(num, ".") {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f*float64(scale) > float64(math.MaxInt64/2) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return Duration(time.Duration(f * float64(scale))), nil
	}
	n, err := strconv.ParseUint(num, 10, 63)
	if err != nil || n > uint64(math.MaxInt64/int64(scale)) {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return Duration(time.Duration(n) * scale), nil
}

// String writes the largest whole unit, as StartOS does.
func (d Duration) String() string {
	n := int64(d)
	switch {
	case n == 0:
		return "0s"
	case n%int64(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", n/int64(24*time.Hour))
	case n%int64(time.Hour) == 0:
		return fmt.Sprintf("%dh", n/int64(time.Hour))
	case n%int64(time.Minute) == 0:
		return fmt.Sprintf("%dm", n/int64(time.Minute))
	case n%int64(time.Second) == 0:
		return fmt.Sprintf("%ds", n/int64(time.Second))
	case n%int64(time.Millisecond) == 0:
		return fmt.Sprintf("%dms", n/int64(time.Millisecond))
	case n%int64(time.Microsecond) == 0:
		return fmt.Sprintf("%dus", n/int64(time.Microsecond))
	}
	return fmt.Sprintf("%dns", n)
}

// MarshalText writes the duration with units.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration with units.
func (d *Duration) UnmarshalText(b []byte) error {
	p, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

func (d *Duration) decodeNode(dec *decoder, n *node, path string) {
	s, ok := dec.scalarString(n, path)
	if !ok {
		return
	}
	p, err := ParseDuration(s)
	if err != nil {
		dec.problem(path, "%v", err)
		return
	}
	*d = p
}

// Containers is StartOS 0.3's rarely used long-running container with an
// injected init. It is read so such manifests parse, and reported as
// unsupported.
type Containers struct {
	Main ContainerSpec `yaml:"main" json:"main"`
}

// ContainerSpec is one entry of Containers.
type ContainerSpec struct {
	Image           string            `yaml:"image" json:"image"`
	Mounts          map[string]string `yaml:"mounts" json:"mounts,omitempty"`
	ShmSizeMB       uint64            `yaml:"shm-size-mb" json:"shmSizeMb,omitempty"`
	SigtermTimeout  Duration          `yaml:"sigterm-timeout" json:"sigtermTimeout,omitempty"`
	System          bool              `yaml:"system" json:"system,omitempty"`
	GPUAcceleration bool              `yaml:"gpu-acceleration" json:"gpuAcceleration,omitempty"`
}

// HealthCheck is a procedure whose exit code is the result: 0 success,
// 59 disabled, 60 starting, 61 loading, anything else failure.
type HealthCheck struct {
	Name           string   `yaml:"name" json:"name"`
	SuccessMessage string   `yaml:"success-message" json:"successMessage,omitempty"`
	Timeout        Duration `yaml:"timeout" json:"timeout,omitempty"`
	Procedure      `yaml:",inline"`
}

// ConfigActions get and set the service's configuration.
type ConfigActions struct {
	Get Procedure `yaml:"get" json:"get"`
	Set Procedure `yaml:"set" json:"set"`
}

// BackupActions run with the BACKUP volume mounted.
type BackupActions struct {
	Create  Procedure `yaml:"create" json:"create"`
	Restore Procedure `yaml:"restore" json:"restore"`
}

// Migrations run when the package is updated from (or downgraded to) a
// version in a key's range.
type Migrations struct {
	From map[string]*Procedure `yaml:"from" json:"from,omitempty"`
	To   map[string]*Procedure `yaml:"to" json:"to,omitempty"`
}

// VolumeType is the kind of a volume.
type VolumeType string

// Volume types. "backup" is reserved: procedures mount it as BACKUP.
const (
	VolumeData        VolumeType = "data"
	VolumeAssets      VolumeType = "assets"
	VolumePointer     VolumeType = "pointer"
	VolumeCertificate VolumeType = "certificate"
)

// BackupVolume is the reserved volume id backup procedures mount.
const BackupVolume = "BACKUP"

// Volume is a folder mounted into the package's containers.
type Volume struct {
	Type VolumeType `yaml:"type" json:"type"`
	// Pointer volumes: a folder of a volume of a declared dependency. It is
	// mounted read-only unless readonly is false.
	PackageID string `yaml:"package-id" json:"packageId,omitempty"`
	VolumeID  string `yaml:"volume-id" json:"volumeId,omitempty"`
	Path      string `yaml:"path" json:"path,omitempty"`
	ReadOnly  *bool  `yaml:"readonly" json:"readonly,omitempty"`
	// Certificate volumes: the TLS certificate of one of the package's
	// interfaces.
	InterfaceID string `yaml:"interface-id" json:"interfaceId,omitempty"`
}

// Writable reports whether a pointer volume is mounted read-write: only
// when the manifest says readonly: false.
func (v *Volume) Writable() bool { return v.ReadOnly != nil && !*v.ReadOnly }

// volumeKeys lists the keys each volume type uses, besides "type".
var volumeKeys = map[VolumeType][]string{
	VolumeData:        nil,
	VolumeAssets:      nil,
	VolumePointer:     {"package-id", "volume-id", "path", "readonly"},
	VolumeCertificate: {"interface-id"},
}

// Interface is a network interface of the service.
type Interface struct {
	Name        string                    `yaml:"name" json:"name"`
	Description string                    `yaml:"description" json:"description"`
	TorConfig   *TorConfig                `yaml:"tor-config" json:"torConfig,omitempty"`
	LanConfig   map[string]*LanPortConfig `yaml:"lan-config" json:"lanConfig,omitempty"`
	UI          bool                      `yaml:"ui" json:"ui"`
	Protocols   []string                  `yaml:"protocols" json:"protocols"`
}

// TorConfig maps external ports (keys) to ports inside the container.
type TorConfig struct {
	PortMapping map[string]Port `yaml:"port-mapping" json:"portMapping"`
}

// LanPortConfig is the LAN binding of one external port (the map key).
type LanPortConfig struct {
	SSL      bool `yaml:"ssl" json:"ssl"`
	Internal Port `yaml:"internal" json:"internal"`
}

// Port is a TCP port. It reads a number or a numeric string, as StartOS 0.3
// does ("80": "8080" is common).
type Port uint16

func (p *Port) decodeNode(d *decoder, n *node, path string) {
	s, ok := d.scalarString(n, path)
	if !ok {
		return
	}
	v, err := parsePort(s)
	if err != nil {
		d.problem(path, "%v", err)
		return
	}
	*p = v
}

func parsePort(s string) (Port, error) {
	n, err := parseNumber(strings.TrimSpace(s))
	if err != nil || n == 0 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q: want a number from 1 to 65535", s)
	}
	return Port(n), nil
}

// Action is a command the user can run from the UI.
type Action struct {
	Name            string         `yaml:"name" json:"name"`
	Description     string         `yaml:"description" json:"description"`
	Warning         string         `yaml:"warning" json:"warning,omitempty"`
	Implementation  Procedure      `yaml:"implementation" json:"implementation"`
	AllowedStatuses []string       `yaml:"allowed-statuses" json:"allowedStatuses"`
	InputSpec       map[string]any `yaml:"input-spec" json:"inputSpec,omitempty"`
}

// Dependency is another package this one needs.
type Dependency struct {
	Version     VersionRange      `yaml:"version" json:"version"`
	Requirement Requirement       `yaml:"requirement" json:"requirement"`
	Description string            `yaml:"description" json:"description,omitempty"`
	Critical    bool              `yaml:"critical" json:"critical,omitempty"`
	Config      *DependencyConfig `yaml:"config" json:"config,omitempty"`
}

// Requirement is "required", or "opt-in"/"opt-out" with How explaining it.
type Requirement struct {
	Type string `yaml:"type" json:"type"`
	How  string `yaml:"how" json:"how,omitempty"`
}

// DependencyConfig checks and fixes the dependency's configuration.
type DependencyConfig struct {
	Check         Procedure `yaml:"check" json:"check"`
	AutoConfigure Procedure `yaml:"auto-configure" json:"autoConfigure"`
}

// Alerts are confirmation texts shown before each step.
type Alerts struct {
	Install   string `yaml:"install" json:"install,omitempty"`
	Uninstall string `yaml:"uninstall" json:"uninstall,omitempty"`
	Restore   string `yaml:"restore" json:"restore,omitempty"`
	Start     string `yaml:"start" json:"start,omitempty"`
	Stop      string `yaml:"stop" json:"stop,omitempty"`
}

// HardwareRequirements limit which machines can install the package.
type HardwareRequirements struct {
	// Device maps a device class to a regular expression its name must match.
	Device map[string]string `yaml:"device" json:"device,omitempty"`
	RAM    uint64            `yaml:"ram" json:"ram,omitempty"`
	Arch   []string          `yaml:"arch" json:"arch,omitempty"`
}

// MarshalArchived returns manifest.json as stored in an archive: camelCase
// keys, derived fields filled in.
func (m *Manifest) MarshalArchived() ([]byte, error) {
	return json.MarshalIndent(m, "", "  ")
}

// IsHTTP reports whether an interface speaks HTTP (the default when it names
// no protocols), so the LAN router serves it by name; otherwise its lan-config
// ports are raw TCP forwards on the box.
func (i *Interface) IsHTTP() bool {
	return len(i.Protocols) == 0 || slices.Contains(i.Protocols, "http") || slices.Contains(i.Protocols, "https")
}

// VolumeOf finds which of the procedure's mounts holds the container path
// cpath (the deepest mount point that contains it) and the path inside
// that volume, without a leading slash. The compat forms name their files
// this way.
func (p *Procedure) VolumeOf(cpath string) (vol, rel string, ok bool) {
	target := ""
	for _, v := range sortedKeys(p.Mounts) {
		t := strings.TrimRight(p.Mounts[v], "/")
		if (cpath == t || strings.HasPrefix(cpath, t+"/")) && (vol == "" || len(t) > len(target)) {
			vol, target = v, t
		}
	}
	if vol == "" {
		return "", "", false
	}
	return vol, strings.Trim(strings.TrimPrefix(cpath, target), "/"), true
}
