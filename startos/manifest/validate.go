package manifest

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// idPattern is StartOS's id syntax, for packages, images, volumes,
// interfaces, health checks and actions.
var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

const maxIDLen = 64

// ValidID reports whether s is a valid package, image, volume, interface,
// health check or action id.
func ValidID(s string) bool { return len(s) <= maxIDLen && idPattern.MatchString(s) }

// role is where a procedure is used; it decides which compat command may
// stand in for it and whether it must declare an io-format.
type role struct {
	name   string
	native NativeOp // the compat command allowed here, if any
	needIO bool
}

var (
	roleMain          = role{name: "main"}
	roleHealthCheck   = role{name: "health check"}
	roleConfigGet     = role{name: "config get", native: NativeConfigGet, needIO: true}
	roleConfigSet     = role{name: "config set", native: NativeConfigSet, needIO: true}
	roleProperties    = role{name: "properties", native: NativeProperties, needIO: true}
	roleBackupCreate  = role{name: "backup create", native: NativeBackupCreate}
	roleBackupRestore = role{name: "backup restore", native: NativeBackupRestore}
	roleMigration     = role{name: "migration"}
	roleAction        = role{name: "action", needIO: true}
	roleDepCheck      = role{name: "dependency check", native: NativeDependencyCheck, needIO: true}
	roleDepAutoConfig = role{name: "dependency auto-configure", native: NativeDependencyAutoCfg, needIO: true}
)

type checker struct {
	m        *Manifest
	images   map[string]bool
	problems []Problem
}

func (c *checker) add(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// check validates m and marks compat procedures Native.
func (m *Manifest) check() []Problem {
	c := &checker{m: m, images: map[string]bool{}}
	for _, id := range m.ImageIDs() {
		c.images[id] = true
	}

	c.id("id", m.ID, true)
	c.required("title", m.Title)
	if m.Version.IsZero() {
		c.add("version", "required")
	}
	c.required("release-notes", m.ReleaseNotes)
	c.required("license", m.License)
	c.url("wrapper-repo", m.WrapperRepo, true)
	c.url("upstream-repo", m.UpstreamRepo, true)
	c.url("support-site", m.SupportSite, false)
	c.url("marketing-site", m.MarketingSite, false)
	c.url("donation-url", m.DonationURL, false)

	c.required("description.short", m.Description.Short)
	if n := utf8.RuneCountInString(m.Description.Short); n > 160 {
		c.add("description.short", "is %d characters; the limit is 160", n)
	}
	c.required("description.long", m.Description.Long)
	if n := utf8.RuneCountInString(m.Description.Long); n > 5000 {
		c.add("description.long", "is %d characters; the limit is 5000", n)
	}

	c.assets()
	for i, cmd := range m.Build {
		if strings.TrimSpace(cmd) == "" {
			c.add(indexPath("build", i), "empty command")
		}
	}
	c.imageSpecs()

	c.procedure("main", &m.Main, roleMain)
	if m.Main.Inject {
		c.add("main.inject", "main starts the service's container; it cannot be injected into one")
	}
	if m.Main.System {
		c.add("main.system", "main must run one of the package's images, not a system image")
	}

	if m.HealthChecks == nil {
		c.add("health-checks", "required (write {} for none)")
	}
	for _, id := range sortedKeys(m.HealthChecks) {
		p := joinPath("health-checks", id)
		hc := m.HealthChecks[id]
		c.id(p, id, false)
		if hc == nil {
			c.add(p, "required: a health check")
			continue
		}
		c.required(joinPath(p, "name"), hc.Name)
		if hc.Timeout < 0 {
			c.add(joinPath(p, "timeout"), "must not be negative")
		}
		c.procedure(p, &hc.Procedure, roleHealthCheck)
	}

	if m.Config != nil {
		c.procedure("config.get", &m.Config.Get, roleConfigGet)
		c.procedure("config.set", &m.Config.Set, roleConfigSet)
	}
	if m.Properties != nil {
		c.procedure("properties", m.Properties, roleProperties)
	}

	c.volumes()
	c.interfaces()

	c.procedure("backup.create", &m.Backup.Create, roleBackupCreate)
	c.procedure("backup.restore", &m.Backup.Restore, roleBackupRestore)

	for _, dir := range []struct {
		key   string
		procs map[string]*Procedure
	}{{"migrations.from", m.Migrations.From}, {"migrations.to", m.Migrations.To}} {
		for _, r := range sortedKeys(dir.procs) {
			p := joinPath(dir.key, r)
			if _, err := ParseVersionRange(r); err != nil {
				c.add(p, "key is not a version range: %v", err)
			}
			if dir.procs[r] == nil {
				c.add(p, "required: a procedure")
				continue
			}
			c.procedure(p, dir.procs[r], roleMigration)
		}
	}

	c.actions()
	c.dependencies()
	c.hardware()
	for i, r := range m.Replaces {
		if strings.TrimSpace(r) == "" {
			c.add(indexPath("replaces", i), "empty entry")
		}
	}
	return c.problems
}

func (c *checker) required(p, v string) {
	if strings.TrimSpace(v) == "" {
		c.add(p, "required")
	}
}

func (c *checker) id(p, v string, isKey bool) {
	switch {
	case v == "" && isKey:
		c.add(p, "required")
	case !ValidID(v):
		c.add(p, "invalid id %q: use lowercase letters, digits and single dashes (at most %d characters)", v, maxIDLen)
	}
}

func (c *checker) url(p, v string, required bool) {
	if v == "" {
		if required {
			c.add(p, "required")
		}
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.add(p, "invalid URL %q: want http:// or https://", v)
	}
}

// relPath checks a path inside the package folder.
func (c *checker) relPath(p, v string) {
	if v == "" {
		return
	}
	if path.IsAbs(v) || strings.HasPrefix(v, "\\") {
		c.add(p, "%q must be a path relative to the package folder", v)
		return
	}
	if slices.Contains(strings.Split(path.Clean(v), "/"), "..") || strings.ContainsRune(v, 0) {
		c.add(p, "%q must stay inside the package folder", v)
	}
}

var iconExts = []string{"png", "jpg", "jpeg", "gif", "svg", "webp"}

func (c *checker) assets() {
	a := c.m.Assets
	c.relPath("assets.license", a.License)
	c.relPath("assets.instructions", a.Instructions)
	c.relPath("assets.icon", a.Icon)
	c.relPath("assets.assets", a.Assets)
	c.relPath("assets.docker-images", a.DockerImages)
	c.relPath("assets.scripts", a.Scripts)
	if !slices.Contains(iconExts, a.IconExt()) {
		c.add("assets.icon", "unsupported icon type %q: want one of %s", a.IconExt(), strings.Join(iconExts, ", "))
	}
}

func (c *checker) imageSpecs() {
	for _, id := range sortedKeys(c.m.Images) {
		p := joinPath("images", id)
		c.id(p, id, false)
		s := c.m.Images[id]
		if s == nil {
			continue
		}
		if s.DockerTag != "" && (s.Dockerfile != "" || s.Context != "" || len(s.BuildArgs) > 0) {
			c.add(joinPath(p, "docker-tag"), "an image is either built (dockerfile, context, build-args) or taken from docker-tag, not both")
		}
		c.relPath(joinPath(p, "context"), s.Context)
		c.relPath(joinPath(p, "dockerfile"), s.Dockerfile)
	}
}

// procedure checks one procedure and marks it Native when it is a compat
// command the daemon performs itself.
func (c *checker) procedure(p string, pr *Procedure, r role) {
	pr.Native = ""
	if pr.Type == "" {
		c.add(p, "required: a docker procedure")
		return
	}
	if pr.Type != ProcedureDocker {
		c.add(joinPath(p, "type"), "unknown procedure type %q: want docker", pr.Type)
		return
	}
	switch {
	case pr.Image == "":
		c.add(joinPath(p, "image"), "required")
	case pr.System && pr.Image == CompatImage:
		op := compatOp(pr.Args, r)
		switch {
		case op == "":
			c.add(joinPath(p, "args"), "the compat system image is not available; only its config get/set, backup create/restore, properties and dependency check/auto-configure commands are carried out natively")
		case op != r.native:
			c.add(joinPath(p, "args"), "compat command %q cannot be used for a %s procedure", strings.Join(firstN(pr.Args, 2), " "), r.name)
		default:
			pr.Native = op
		}
		if pr.Inject {
			c.add(joinPath(p, "inject"), "a system image cannot be injected into the service's container")
		}
	case pr.System:
		c.add(joinPath(p, "image"), "system image %q is not available; only the compat image's config and backup duties are supported", pr.Image)
	case !c.images[pr.Image]:
		c.add(joinPath(p, "image"), "unknown image %q (the package's images: %s)", pr.Image, strings.Join(c.m.ImageIDs(), ", "))
	}
	if pr.Native == "" && strings.TrimSpace(pr.Entrypoint) == "" {
		c.add(joinPath(p, "entrypoint"), "required")
	}
	if pr.IOFormat != "" && !slices.Contains(ioFormats, pr.IOFormat) {
		c.add(joinPath(p, "io-format"), "unknown format %q: want json, json-pretty, yaml, cbor, toml or toml-pretty", pr.IOFormat)
	}
	if r.needIO && pr.Native == "" && pr.IOFormat == "" {
		c.add(joinPath(p, "io-format"), "required for a %s procedure", r.name)
	}
	if pr.ShmSizeMB > MaxShmSizeMB {
		c.add(joinPath(p, "shm-size-mb"), "is %d; the limit is %d", pr.ShmSizeMB, MaxShmSizeMB)
	}
	if pr.SigtermTimeout < 0 {
		c.add(joinPath(p, "sigterm-timeout"), "must not be negative")
	}
	c.mounts(joinPath(p, "mounts"), pr.Mounts)
}

func (c *checker) mounts(p string, mounts map[string]string) {
	for _, vol := range sortedKeys(mounts) {
		mp := joinPath(p, vol)
		if _, ok := c.m.Volumes[vol]; !ok && vol != BackupVolume {
			c.add(mp, "unknown volume %q", vol)
		}
		dst := mounts[vol]
		if !strings.HasPrefix(dst, "/") {
			c.add(mp, "mount point %q must be an absolute path", dst)
		} else if problem := subPathProblem(dst); problem != "" {
			c.add(mp, "mount point %q %s", dst, problem)
		}
	}
}

// MaxShmSizeMB bounds a procedure's shm-size-mb (a memory-backed tmpfs).
const MaxShmSizeMB = 16 << 10

// subPathProblem says why p cannot name a folder inside a volume or a
// container ("" when it can): a ".." component, a control character or a
// backslash, or an unreasonable length.
func subPathProblem(p string) string {
	if len(p) > 1024 {
		return "is longer than 1024 bytes"
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "must not hold control characters or backslashes"
		}
	}
	if slices.Contains(strings.Split(p, "/"), "..") {
		return "must not contain .."
	}
	return ""
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// compatOp recognises the compat commands StartOS 0.3 wrappers use:
//
//	compat config get <data-dir> <spec.yaml>
//	compat config set <package-id> <data-dir> <rules.yaml>
//	compat duplicity create|restore <backup-dir> <data-dir>
//	compat duplicity <package-id> <from> <to>     (older form, per role)
//	compat properties <stats.yaml>
//	compat dependency check|auto-configure ...
func compatOp(args []string, r role) NativeOp {
	if len(args) == 0 {
		return ""
	}
	sub := ""
	if len(args) > 1 {
		sub = args[1]
	}
	switch args[0] {
	case "config":
		switch sub {
		case "get":
			return NativeConfigGet
		case "set":
			return NativeConfigSet
		}
	case "duplicity":
		switch sub {
		case "create":
			return NativeBackupCreate
		case "restore":
			return NativeBackupRestore
		}
		if len(args) >= 4 && (r.native == NativeBackupCreate || r.native == NativeBackupRestore) {
			return r.native
		}
	case "properties":
		return NativeProperties
	case "dependency":
		switch sub {
		case "check":
			return NativeDependencyCheck
		case "auto-configure":
			return NativeDependencyAutoCfg
		}
	}
	return ""
}

func (c *checker) volumes() {
	m := c.m
	if m.Volumes == nil {
		c.add("volumes", "required (write {} for none)")
	}
	for _, id := range sortedKeys(m.Volumes) {
		p := joinPath("volumes", id)
		if id == BackupVolume {
			c.add(p, "%s is reserved for the backup target", BackupVolume)
			continue
		}
		c.id(p, id, false)
		v := m.Volumes[id]
		if v == nil {
			c.add(p, "required: a volume with a type")
			continue
		}
		switch v.Type {
		case VolumeData, VolumeAssets:
		case VolumePointer:
			if v.PackageID == "" {
				c.add(joinPath(p, "package-id"), "required for a pointer volume")
			} else if !ValidID(v.PackageID) {
				c.add(joinPath(p, "package-id"), "invalid package id %q", v.PackageID)
			}
			if v.VolumeID == "" {
				c.add(joinPath(p, "volume-id"), "required for a pointer volume")
			} else if !ValidID(v.VolumeID) {
				c.add(joinPath(p, "volume-id"), "invalid volume id %q: use lowercase letters, digits and single dashes", v.VolumeID)
			}
			if problem := subPathProblem(v.Path); problem != "" {
				c.add(joinPath(p, "path"), "%q %s", v.Path, problem)
			}
			if ValidID(v.PackageID) {
				if v.PackageID == m.ID {
					c.add(joinPath(p, "package-id"), "a pointer volume points to another package's volume, not this package's")
				} else if _, ok := m.Dependencies[v.PackageID]; !ok {
					c.add(joinPath(p, "package-id"), "%s must be a declared dependency (under dependencies)", v.PackageID)
				}
			}
		case VolumeCertificate:
			if v.InterfaceID == "" {
				c.add(joinPath(p, "interface-id"), "required for a certificate volume")
			} else if _, ok := m.Interfaces[v.InterfaceID]; !ok {
				c.add(joinPath(p, "interface-id"), "unknown interface %q", v.InterfaceID)
			}
		case "":
			c.add(joinPath(p, "type"), "required")
		default:
			c.add(joinPath(p, "type"), "unknown volume type %q", v.Type)
		}
	}
}

func (c *checker) interfaces() {
	m := c.m
	if m.Interfaces == nil {
		c.add("interfaces", "required (write {} for none)")
	}
	for _, id := range sortedKeys(m.Interfaces) {
		p := joinPath("interfaces", id)
		c.id(p, id, false)
		in := m.Interfaces[id]
		if in == nil {
			c.add(p, "required: an interface")
			continue
		}
		c.required(joinPath(p, "name"), in.Name)
		if in.TorConfig == nil && len(in.LanConfig) == 0 {
			c.add(p, "needs a tor-config or a lan-config")
		}
		if in.TorConfig != nil {
			for _, ext := range sortedKeys(in.TorConfig.PortMapping) {
				if _, err := parsePort(ext); err != nil {
					c.add(joinPath(joinPath(p, "tor-config.port-mapping"), ext), "%v", err)
				}
			}
		}
		for _, ext := range sortedKeys(in.LanConfig) {
			lp := joinPath(joinPath(p, "lan-config"), ext)
			if _, err := parsePort(ext); err != nil {
				c.add(lp, "%v", err)
			}
			if lc := in.LanConfig[ext]; lc == nil || lc.Internal == 0 {
				c.add(joinPath(lp, "internal"), "required")
			}
		}
		if len(in.Protocols) == 0 {
			c.add(joinPath(p, "protocols"), "required (for example [tcp, http])")
		}
		for i, proto := range in.Protocols {
			if strings.TrimSpace(proto) == "" {
				c.add(indexPath(joinPath(p, "protocols"), i), "empty protocol")
			}
		}
	}
}

var statuses = []string{"running", "stopped"}

func (c *checker) actions() {
	for _, id := range sortedKeys(c.m.Actions) {
		p := joinPath("actions", id)
		c.id(p, id, false)
		a := c.m.Actions[id]
		if a == nil {
			c.add(p, "required: an action")
			continue
		}
		c.required(joinPath(p, "name"), a.Name)
		c.procedure(joinPath(p, "implementation"), &a.Implementation, roleAction)
		sp := joinPath(p, "allowed-statuses")
		if len(a.AllowedStatuses) == 0 {
			c.add(sp, "required: running, stopped or both")
		}
		seen := map[string]bool{}
		for i, s := range a.AllowedStatuses {
			if !slices.Contains(statuses, s) {
				c.add(indexPath(sp, i), "unknown status %q: want running or stopped", s)
			} else if seen[s] {
				c.add(indexPath(sp, i), "%q is listed twice", s)
			}
			seen[s] = true
		}
	}
}

var requirementTypes = []string{"required", "opt-in", "opt-out"}

func (c *checker) dependencies() {
	for _, id := range sortedKeys(c.m.Dependencies) {
		p := joinPath("dependencies", id)
		c.id(p, id, false)
		if id == c.m.ID {
			c.add(p, "a package cannot depend on itself")
		}
		d := c.m.Dependencies[id]
		if d == nil {
			c.add(p, "required: a dependency")
			continue
		}
		if d.Version.IsZero() {
			c.add(joinPath(p, "version"), "required: a version range such as >=1.0.0")
		}
		rp := joinPath(p, "requirement")
		switch {
		case d.Requirement.Type == "":
			c.add(joinPath(rp, "type"), "required: required, opt-in or opt-out")
		case !slices.Contains(requirementTypes, d.Requirement.Type):
			c.add(joinPath(rp, "type"), "unknown requirement %q: want required, opt-in or opt-out", d.Requirement.Type)
		case d.Requirement.Type != "required" && strings.TrimSpace(d.Requirement.How) == "":
			c.add(joinPath(rp, "how"), "required for an %s dependency", d.Requirement.Type)
		}
		if d.Config != nil {
			c.procedure(joinPath(p, "config.check"), &d.Config.Check, roleDepCheck)
			c.procedure(joinPath(p, "config.auto-configure"), &d.Config.AutoConfigure, roleDepAutoConfig)
		}
	}
}

func (c *checker) hardware() {
	h := c.m.HardwareRequirements
	for _, class := range sortedKeys(h.Device) {
		if _, err := regexp.Compile(h.Device[class]); err != nil {
			c.add(joinPath("hardware-requirements.device", class), "invalid regular expression: %v", err)
		}
	}
	for i, a := range h.Arch {
		if !slices.Contains(Arches, a) {
			c.add(indexPath("hardware-requirements.arch", i), "unknown architecture %q: want one of %s", a, strings.Join(Arches, ", "))
		}
	}
}

// warnings reports things a valid manifest says that this system ignores.
func (m *Manifest) warnings() []Problem {
	var w []Problem
	if m.Containers != nil {
		w = append(w, Problem{Path: "containers", Message: "long-running containers with an injected init are not supported; ignored (main runs as the service's container)"})
	}
	if m.Assets.DockerImages != "" {
		w = append(w, Problem{Path: "assets.docker-images", Message: "ignored: start-sdk pack builds images through the Docker Engine (see images)"})
	}
	if m.Assets.Scripts != "" {
		w = append(w, Problem{Path: "assets.scripts", Message: "ignored: script procedures are not supported"})
	}
	return w
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
