package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/internal/golden"
	"github.com/startos-go/startos/startos/errdefs"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit changes one key of a YAML document. Paths separate keys with "/" (keys
// such as "<0.3.0" contain dots). A nil value deletes the key.
type edit struct {
	path  string
	value any // YAML text (string) or nil to delete
}

func set(path, yamlText string) edit { return edit{path, yamlText} }
func del(path string) edit           { return edit{path, nil} }

func applyEdits(t *testing.T, src []byte, edits ...edit) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range edits {
		keys := strings.Split(e.path, "/")
		n := doc.Content[0]
		for i, k := range keys {
			last := i == len(keys)-1
			if n.Kind != yaml.MappingNode {
				t.Fatalf("edit %s: %s is not a mapping", e.path, strings.Join(keys[:i], "/"))
			}
			idx := -1
			for j := 0; j < len(n.Content); j += 2 {
				if n.Content[j].Value == k {
					idx = j
				}
			}
			if last {
				if e.value == nil {
					if idx < 0 {
						t.Fatalf("edit %s: no such key", e.path)
					}
					n.Content = append(n.Content[:idx], n.Content[idx+2:]...)
					break
				}
				var v yaml.Node
				if err := yaml.Unmarshal([]byte(e.value.(string)), &v); err != nil {
					t.Fatalf("edit %s: %v", e.path, err)
				}
				val := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "~"}
				if len(v.Content) > 0 {
					val = v.Content[0]
				}
				if idx < 0 {
					n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, val)
				} else {
					n.Content[idx+1] = val
				}
				break
			}
			if idx < 0 {
				child := &yaml.Node{Kind: yaml.MappingNode}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, child)
				n = child
				continue
			}
			n = n.Content[idx+1]
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseFull(t *testing.T) {
	m, warnings, err := Parse(readFile(t, "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("unexpected warnings: %v", warnings)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"id", m.ID, "hello-world"},
		{"version", m.Version.String(), "0.3.5.1"},
		{"eos-version", m.EOSVersion.String(), "0.3.5"},
		{"support-site", m.SupportSite, "https://docs.start9.com/"},
		{"images", m.ImageIDs(), []string{"main", "tools"}},
		{"main sigterm", m.Main.SigtermTimeout.String(), "30s"},
		{"main shm", m.Main.ShmSizeMB, uint64(64)},
		{"health timeout", m.HealthChecks["web"].Timeout.String(), "10s"},
		{"health inject", m.HealthChecks["web"].Inject, true},
		{"health io", m.HealthChecks["web"].IOFormat, IOFormat("json")},
		{"config get native", m.Config.Get.Native, NativeConfigGet},
		{"config set native", m.Config.Set.Native, NativeConfigSet},
		{"properties native", m.Properties.Native, NativeProperties},
		{"backup create native", m.Backup.Create.Native, NativeBackupCreate},
		{"backup restore native", m.Backup.Restore.Native, NativeBackupRestore},
		{"dependency check native", m.Dependencies["filebrowser"].Config.Check.Native, NativeDependencyCheck},
		{"dependency auto-configure native", m.Dependencies["filebrowser"].Config.AutoConfigure.Native, NativeDependencyAutoCfg},
		{"main not native", m.Main.Native, NativeOp("")},
		{"pointer volume", *m.Volumes["filebrowser"], Volume{Type: VolumePointer, PackageID: "filebrowser", VolumeID: "main", Path: "/data", ReadOnly: ptrTo(true)}},
		{"certificate volume", m.Volumes["cert"].InterfaceID, "main"},
		{"tor port", m.Interfaces["main"].TorConfig.PortMapping["80"], Port(80)},
		{"lan port", *m.Interfaces["main"].LanConfig["443"], LanPortConfig{SSL: true, Internal: 80}},
		{"action statuses", m.Actions["reset-greeting"].AllowedStatuses, []string{"running", "stopped"}},
		{"action input-spec", m.Actions["reset-greeting"].InputSpec["greeting"].(map[string]any)["default"], "hello"},
		{"dependency range", m.Dependencies["filebrowser"].Version.Canonical(), ">=2.14.1.1 <3.0.0"},
		{"requirement", m.Dependencies["filebrowser"].Requirement, Requirement{Type: "opt-out", How: "Use the File Browser to upload files"}},
		{"migration from", m.Migrations.From["<0.3.0"].Args, []string{"from"}},
		{"alerts", m.Alerts.Stop, "Stopping says goodbye."},
		{"hardware ram", m.HardwareRequirements.RAM, uint64(1 << 30)},
		{"hardware arch", m.HardwareRequirements.Arch, []string{"x86_64", "aarch64"}},
		{"replaces", m.Replaces, []string{"hello-world-legacy"}},
		{"build", m.Build, []string{"make"}},
		{"image build arg", m.Images["main"].BuildArgs["GREETING"], "hello"},
		{"image tag", m.Images["tools"].DockerTag, "example/tools:1"},
		{"docker tag", DockerTag(m.ID, "main", m.Version), "start9/hello-world/main:0.3.5.1"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// The same manifest written as kebab-case JSON, and the archived camelCase
// form, read back to the same value.
func TestJSONForms(t *testing.T) {
	src := readFile(t, "full.yaml")
	m, _, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}

	var generic any
	if err := yaml.Unmarshal(src, &generic); err != nil {
		t.Fatal(err)
	}
	kebabJSON, err := json.Marshal(stringKeys(generic))
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, _, err := Parse(kebabJSON)
	if err != nil {
		t.Fatalf("kebab-case JSON: %v", err)
	}
	if !reflect.DeepEqual(fromJSON, m) {
		t.Errorf("kebab-case JSON reads differently from YAML")
	}

	archived, err := m.MarshalArchived()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(archived, []byte(`"healthChecks"`)) || bytes.Contains(archived, []byte(`"health-checks"`)) {
		t.Errorf("archived form is not camelCase:\n%s", archived)
	}
	if !bytes.Contains(archived, []byte(`"native": "config-get"`)) {
		t.Errorf("archived form does not carry the native marks")
	}
	back, warnings, err := ParseArchived(archived)
	if err != nil {
		t.Fatalf("archived: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("archived warnings: %v", warnings)
	}
	// Empty lists are dropped from the archived form, so compare encodings.
	if a, b := mustJSON(t, back), mustJSON(t, m); a != b {
		t.Errorf("archived round trip differs:\n%s\n%s", a, b)
	}
	clone, err := m.Clone()
	if err != nil || mustJSON(t, clone) != mustJSON(t, m) {
		t.Errorf("Clone differs: %v", err)
	}
	if clone == m || &clone.Main == &m.Main {
		t.Errorf("Clone shares memory")
	}
	// The kebab-case reader does not accept camelCase keys, and says so.
	_, _, err = Parse(archived)
	if err == nil {
		t.Fatal("camelCase manifest read as a source manifest")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stringKeys turns yaml's map[string]any with non-string keys into JSON-able
// maps.
func stringKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			out[k] = stringKeys(x)
		}
		return out
	case map[any]any:
		out := map[string]any{}
		for k, x := range t {
			out[toString(k)] = stringKeys(x)
		}
		return out
	case []any:
		for i := range t {
			t[i] = stringKeys(t[i])
		}
	}
	return v
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

type problemWant struct {
	path string
	msg  string // substring of the message
}

func TestInvalidManifests(t *testing.T) {
	base := readFile(t, "full.yaml")
	long := strings.Repeat("x", 161)
	cases := []struct {
		name  string
		edits []edit
		raw   string // when set, parsed instead of the edited base
		want  []problemWant
		more  bool // other problems follow from the ones listed
	}{
		{name: "id missing", edits: []edit{del("id")}, want: []problemWant{{"id", "required"}}},
		{name: "id invalid", edits: []edit{set("id", "Hello_World")}, want: []problemWant{{"id", `invalid id "Hello_World"`}}},
		{name: "title missing", edits: []edit{del("title")}, want: []problemWant{{"title", "required"}}},
		{name: "version short", edits: []edit{set("version", `"1.2"`)}, want: []problemWant{{"version", `invalid version "1.2"`}}},
		{name: "version missing", edits: []edit{del("version")}, want: []problemWant{{"version", "required"}}},
		{name: "version five parts", edits: []edit{set("version", "1.2.3.4.5")}, want: []problemWant{{"version", "invalid version"}}},
		{name: "eos-version invalid", edits: []edit{set("eos-version", "latest")}, want: []problemWant{{"eos-version", `invalid version "latest"`}}},
		{name: "eos-version twice", edits: []edit{set("min-os-version", "0.3.0")}, want: []problemWant{{"min-os-version", `key repeats "eos-version"`}}},
		{name: "git-hash not a string", edits: []edit{set("git-hash", "[1]")}, want: []problemWant{{"git-hash", "expected a string, found a list"}}},
		{name: "release-notes missing", edits: []edit{del("release-notes")}, want: []problemWant{{"release-notes", "required"}}},
		{name: "license missing", edits: []edit{del("license")}, want: []problemWant{{"license", "required"}}},
		{name: "wrapper-repo invalid", edits: []edit{set("wrapper-repo", "not a url")}, want: []problemWant{{"wrapper-repo", `invalid URL "not a url"`}}},
		{name: "upstream-repo missing", edits: []edit{del("upstream-repo")}, want: []problemWant{{"upstream-repo", "required"}}},
		{name: "support-site ftp", edits: []edit{set("support-site", "ftp://start9.com")}, want: []problemWant{{"support-site", "invalid URL"}}},
		{name: "marketing-site relative", edits: []edit{set("marketing-site", "start9.com")}, want: []problemWant{{"marketing-site", "invalid URL"}}},
		{name: "donation-url invalid", edits: []edit{set("donation-url", "mailto:x@y")}, want: []problemWant{{"donation-url", "invalid URL"}}},
		{name: "description short too long", edits: []edit{set("description/short", long)}, want: []problemWant{{"description.short", "is 161 characters; the limit is 160"}}},
		{name: "description long missing", edits: []edit{del("description/long")}, want: []problemWant{{"description.long", "required"}}},
		{name: "description a string", edits: []edit{set("description", "hello")}, want: []problemWant{{"description", `expected a mapping, found the string "hello"`}}},
		{name: "assets icon type", edits: []edit{set("assets/icon", "icon.bmp")}, want: []problemWant{{"assets.icon", `unsupported icon type "bmp"`}}},
		{name: "assets license outside", edits: []edit{set("assets/license", "../LICENSE")}, want: []problemWant{{"assets.license", "must stay inside the package folder"}}},
		{name: "assets instructions absolute", edits: []edit{set("assets/instructions", "/etc/passwd")}, want: []problemWant{{"assets.instructions", "must be a path relative"}}},
		{name: "build empty command", edits: []edit{set("build", `[""]`)}, want: []problemWant{{"build[0]", "empty command"}}},
		{name: "build a string", edits: []edit{set("build", "make")}, want: []problemWant{{"build", "expected a list"}}},
		{name: "images bad id", edits: []edit{set("images/Main", "{}")}, want: []problemWant{{"images.Main", "invalid id"}}},
		{name: "images tag and dockerfile", edits: []edit{set("images/tools/dockerfile", "Dockerfile.tools")}, want: []problemWant{{"images.tools.docker-tag", "either built"}}},
		{name: "main missing", edits: []edit{del("main")}, want: []problemWant{{"main", "required: a docker procedure"}}},
		{name: "main script", edits: []edit{set("main", "{type: script}")}, want: []problemWant{{"main.type", `"script" procedures (StartOS JavaScript in embassy.js) are not supported`}}},
		{name: "main unknown type", edits: []edit{set("main/type", "podman")}, want: []problemWant{{"main.type", `unknown procedure type "podman"`}}},
		{name: "main image typo", edits: []edit{set("main/image", "mian")}, want: []problemWant{{"main.image", `unknown image "mian"`}}},
		{name: "main inject", edits: []edit{set("main/inject", "true")}, want: []problemWant{{"main.inject", "cannot be injected"}}},
		{name: "main entrypoint missing", edits: []edit{del("main/entrypoint")}, want: []problemWant{{"main.entrypoint", "required"}}},
		{name: "main mount unknown volume", edits: []edit{set("main/mounts/nope", "/nope")}, want: []problemWant{{"main.mounts.nope", `unknown volume "nope"`}}},
		{name: "main mount relative", edits: []edit{set("main/mounts/main", "root")}, want: []problemWant{{"main.mounts.main", "must be an absolute path"}}},
		{name: "main sigterm no units", edits: []edit{set("main/sigterm-timeout", "30")}, want: []problemWant{{"main.sigterm-timeout", "want a number with units"}}},
		{name: "main shm not a number", edits: []edit{set("main/shm-size-mb", "lots")}, want: []problemWant{{"main.shm-size-mb", "expected a whole number"}}},
		{name: "main shm negative", edits: []edit{set("main/shm-size-mb", "-1")}, want: []problemWant{{"main.shm-size-mb", "out of range"}}},
		{name: "main gpu not bool", edits: []edit{set("main/gpu-acceleration", `"yes"`)}, want: []problemWant{{"main.gpu-acceleration", "expected true or false"}}},
		{name: "main io-format", edits: []edit{set("main/io-format", "xml")}, want: []problemWant{{"main.io-format", `unknown format "xml"`}}},
		{name: "main args not a list", edits: []edit{set("main/args", "run")}, want: []problemWant{{"main.args", "expected a list"}}},
		{name: "main system image", edits: []edit{set("main/system", "true"), set("main/image", "utils")}, want: []problemWant{{"main.image", `system image "utils" is not available`}, {"main.system", "not a system image"}}},
		{name: "health check image typo", edits: []edit{set("health-checks/web/image", "mian")}, want: []problemWant{{"health-checks.web.image", `unknown image "mian"`}}},
		{name: "health check name missing", edits: []edit{del("health-checks/web/name")}, want: []problemWant{{"health-checks.web.name", "required"}}},
		{name: "health check timeout", edits: []edit{set("health-checks/web/timeout", "soon")}, want: []problemWant{{"health-checks.web.timeout", `invalid duration "soon"`}}},
		{name: "health check id", edits: []edit{set("health-checks/Web", "{name: x, type: docker, image: main, entrypoint: x}")}, want: []problemWant{{"health-checks.Web", "invalid id"}}},
		{name: "health check script", edits: []edit{set("health-checks/web/type", "script")}, want: []problemWant{{"health-checks.web.type", `"script" procedures`}}},
		{name: "health-checks missing", edits: []edit{del("health-checks")}, want: []problemWant{{"health-checks", "required"}}},
		{name: "config unknown compat command", edits: []edit{set("config/get/args", "[config, frobnicate]")}, want: []problemWant{{"config.get.args", "the compat system image is not available"}}},
		{name: "config set io-format", edits: []edit{set("config/set", "{type: docker, image: main, entrypoint: set.sh}")}, want: []problemWant{{"config.set.io-format", "required for a config set procedure"}}},
		{name: "config utils image", edits: []edit{set("config/get/image", "utils")}, want: []problemWant{{"config.get.image", `system image "utils" is not available`}}},
		{name: "config get swapped", edits: []edit{set("config/get/args", "[config, set, hello-world]")}, want: []problemWant{{"config.get.args", `compat command "config set" cannot be used for a config get procedure`}}},
		{name: "properties script", edits: []edit{set("properties/type", "script")}, want: []problemWant{{"properties.type", `"script" procedures`}}},
		{name: "volume reserved type", edits: []edit{set("volumes/main/type", "backup")}, want: []problemWant{{"volumes.main.type", "reserved"}}},
		{name: "volume BACKUP declared", edits: []edit{set("volumes/BACKUP", "{type: data}")}, want: []problemWant{{"volumes.BACKUP", "reserved for the backup target"}}},
		{name: "volume unknown type", edits: []edit{set("volumes/main/type", "disk")}, want: []problemWant{{"volumes.main.type", `unknown volume type "disk"`}}},
		{name: "volume type missing", edits: []edit{del("volumes/main/type")}, want: []problemWant{{"volumes.main.type", "required"}}},
		{name: "pointer package-id missing", edits: []edit{del("volumes/filebrowser/package-id")}, want: []problemWant{{"volumes.filebrowser.package-id", "required for a pointer volume"}}},
		{name: "pointer volume-id missing", edits: []edit{del("volumes/filebrowser/volume-id")}, want: []problemWant{{"volumes.filebrowser.volume-id", "required for a pointer volume"}}},
		{name: "pointer volume-id escapes", edits: []edit{set("volumes/filebrowser/volume-id", `"../../../../../../.."`)}, want: []problemWant{{"volumes.filebrowser.volume-id", "invalid volume id"}}},
		{name: "pointer path escapes", edits: []edit{set("volumes/filebrowser/path", `"/../../.."`)}, want: []problemWant{{"volumes.filebrowser.path", "must not contain .."}}},
		{name: "pointer path control character", edits: []edit{set("volumes/filebrowser/path", `"/a\x00b"`)}, want: []problemWant{{"volumes.filebrowser.path", "control characters"}}},
		{name: "pointer package-id invalid", edits: []edit{set("volumes/filebrowser/package-id", `"../x"`)}, want: []problemWant{{"volumes.filebrowser.package-id", "invalid package id"}}},
		{name: "pointer not a dependency", edits: []edit{set("volumes/filebrowser/package-id", "bitcoind")}, want: []problemWant{{"volumes.filebrowser.package-id", "bitcoind must be a declared dependency"}}},
		{name: "pointer to itself", edits: []edit{set("volumes/filebrowser/package-id", "hello-world")}, want: []problemWant{{"volumes.filebrowser.package-id", "not this package's"}}},
		{name: "main mount point escapes", edits: []edit{set("main/mounts/main", "/data/../..")}, want: []problemWant{{"main.mounts.main", "must not contain .."}}},
		{name: "main shm too large", edits: []edit{set("main/shm-size-mb", "1000000000")}, want: []problemWant{{"main.shm-size-mb", "the limit is"}}},
		{name: "certificate interface unknown", edits: []edit{set("volumes/cert/interface-id", "nope")}, want: []problemWant{{"volumes.cert.interface-id", `unknown interface "nope"`}}},
		{name: "volumes missing", edits: []edit{del("volumes")}, more: true, want: []problemWant{{"volumes", "required"}, {"main.mounts.main", `unknown volume "main"`}}},
		{name: "interface name missing", edits: []edit{del("interfaces/main/name")}, want: []problemWant{{"interfaces.main.name", "required"}}},
		{name: "interface tor port", edits: []edit{set("interfaces/main/tor-config/port-mapping/80", "http")}, want: []problemWant{{"interfaces.main.tor-config.port-mapping.80", `invalid port "http"`}}},
		{name: "interface tor external port", edits: []edit{set("interfaces/main/tor-config/port-mapping/99999", "80")}, want: []problemWant{{"interfaces.main.tor-config.port-mapping.99999", `invalid port "99999"`}}},
		{name: "interface lan internal missing", edits: []edit{del("interfaces/main/lan-config/443/internal")}, want: []problemWant{{"interfaces.main.lan-config.443.internal", "required"}}},
		{name: "interface lan ssl not bool", edits: []edit{set("interfaces/main/lan-config/443/ssl", "maybe")}, want: []problemWant{{"interfaces.main.lan-config.443.ssl", "expected true or false"}}},
		{name: "interface protocols missing", edits: []edit{del("interfaces/main/protocols")}, want: []problemWant{{"interfaces.main.protocols", "required"}}},
		{name: "interface no configs", edits: []edit{del("interfaces/main/tor-config"), del("interfaces/main/lan-config")}, want: []problemWant{{"interfaces.main", "needs a tor-config or a lan-config"}}},
		{name: "interface ui not bool", edits: []edit{set("interfaces/main/ui", "[]")}, want: []problemWant{{"interfaces.main.ui", "expected true or false, found a list"}}},
		{name: "interfaces missing", edits: []edit{del("interfaces")}, want: []problemWant{{"interfaces", "required"}, {"volumes.cert.interface-id", "unknown interface"}}},
		{name: "backup create missing", edits: []edit{del("backup/create")}, want: []problemWant{{"backup.create", "required"}}},
		{name: "backup restore wrong command", edits: []edit{set("backup/restore/args", "[duplicity, create, /mnt/backup, /root/data]")}, want: []problemWant{{"backup.restore.args", `compat command "duplicity create" cannot be used for a backup restore procedure`}}},
		{name: "migration range", edits: []edit{set("migrations/from/not-a-range", "{type: docker, image: main, entrypoint: m.sh}")}, want: []problemWant{{"migrations.from.not-a-range", "key is not a version range"}}},
		{name: "migration script", edits: []edit{set("migrations/to/*/type", "script")}, want: []problemWant{{"migrations.to.*.type", `"script" procedures`}}},
		{name: "migration compat", edits: []edit{set("migrations/to/*", "{type: docker, image: compat, system: true, entrypoint: compat, args: [migrate]}")}, want: []problemWant{{"migrations.to.*.args", "the compat system image is not available"}}},
		{name: "action status", edits: []edit{set("actions/reset-greeting/allowed-statuses", "[paused]")}, want: []problemWant{{"actions.reset-greeting.allowed-statuses[0]", `unknown status "paused"`}}},
		{name: "action statuses missing", edits: []edit{del("actions/reset-greeting/allowed-statuses")}, want: []problemWant{{"actions.reset-greeting.allowed-statuses", "required"}}},
		{name: "action io-format", edits: []edit{del("actions/reset-greeting/implementation/io-format")}, want: []problemWant{{"actions.reset-greeting.implementation.io-format", "required for a action procedure"}}},
		{name: "action name missing", edits: []edit{del("actions/reset-greeting/name")}, want: []problemWant{{"actions.reset-greeting.name", "required"}}},
		{name: "action input-spec", edits: []edit{set("actions/reset-greeting/input-spec", "greeting")}, want: []problemWant{{"actions.reset-greeting.input-spec", "expected a mapping"}}},
		{name: "action image typo", edits: []edit{set("actions/reset-greeting/implementation/image", "tool")}, want: []problemWant{{"actions.reset-greeting.implementation.image", `unknown image "tool"`}}},
		{name: "dependency range", edits: []edit{set("dependencies/filebrowser/version", `">=x"`)}, want: []problemWant{{"dependencies.filebrowser.version", "invalid version range"}}},
		{name: "dependency range missing", edits: []edit{del("dependencies/filebrowser/version")}, want: []problemWant{{"dependencies.filebrowser.version", "required"}}},
		{name: "dependency requirement type", edits: []edit{set("dependencies/filebrowser/requirement/type", "maybe")}, want: []problemWant{{"dependencies.filebrowser.requirement.type", `unknown requirement "maybe"`}}},
		{name: "dependency how missing", edits: []edit{del("dependencies/filebrowser/requirement/how")}, want: []problemWant{{"dependencies.filebrowser.requirement.how", "required for an opt-out dependency"}}},
		{name: "dependency on itself", edits: []edit{set("dependencies/hello-world", "{version: '*', requirement: {type: required}}")}, want: []problemWant{{"dependencies.hello-world", "cannot depend on itself"}}},
		{name: "dependency check compat", edits: []edit{set("dependencies/filebrowser/config/check/args", "[dependency, frob]")}, want: []problemWant{{"dependencies.filebrowser.config.check.args", "the compat system image is not available"}}},
		{name: "dependency critical", edits: []edit{set("dependencies/filebrowser/critical", "1")}, want: []problemWant{{"dependencies.filebrowser.critical", "expected true or false"}}},
		{name: "alerts not a string", edits: []edit{set("alerts/install", "[a, b]")}, want: []problemWant{{"alerts.install", "expected a string"}}},
		{name: "hardware regex", edits: []edit{set("hardware-requirements/device/display", `"["`)}, want: []problemWant{{"hardware-requirements.device.display", "invalid regular expression"}}},
		{name: "hardware arch", edits: []edit{set("hardware-requirements/arch", "[sparc]")}, want: []problemWant{{"hardware-requirements.arch[0]", `unknown architecture "sparc"`}}},
		{name: "hardware ram", edits: []edit{set("hardware-requirements/ram", "-1")}, want: []problemWant{{"hardware-requirements.ram", "out of range"}}},
		{name: "replaces empty", edits: []edit{set("replaces", `[""]`)}, want: []problemWant{{"replaces[0]", "empty entry"}}},
		{
			name: "every problem at once",
			edits: []edit{
				set("health-checks/web/image", "mian"),
				del("title"),
				set("main/type", "script"),
				set("volumes/main/type", "disk"),
			},
			want: []problemWant{
				{"health-checks.web.image", `unknown image "mian"`},
				{"main.type", `"script" procedures`},
				{"title", "required"},
				{"volumes.main.type", "unknown volume type"},
			},
		},
		{name: "document a list", raw: "- a\n- b\n", want: []problemWant{{"", "expected a mapping of manifest keys, found a list"}}},
		{name: "YAML syntax", raw: "id: [hello\n", want: []problemWant{{"", "invalid YAML"}}},
		{name: "JSON syntax", raw: `{"id": "x",}`, want: []problemWant{{"", "invalid JSON"}}},
		{name: "duplicate key", raw: "id: a\nid: b\n", want: []problemWant{{"id", "key appears more than once"}}},
		{name: "empty", raw: "", want: []problemWant{{"", "expected a mapping of manifest keys, found null"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := []byte(tc.raw)
			if tc.raw == "" && tc.edits != nil {
				src = applyEdits(t, base, tc.edits...)
			}
			m, _, err := Parse(src)
			if err == nil {
				t.Fatalf("accepted an invalid manifest:\n%s", src)
			}
			if m != nil {
				t.Errorf("returned a manifest with an error")
			}
			if !errors.Is(err, errdefs.ErrValidateS9pk) {
				t.Errorf("error does not wrap ErrValidateS9pk: %v", err)
			}
			var merr *Error
			if !errors.As(err, &merr) {
				t.Fatalf("error is %T, not *Error", err)
			}
			for _, w := range tc.want {
				if !hasProblem(merr.Problems, w) {
					t.Errorf("missing problem %s: %q\ngot:\n%s", w.path, w.msg, err)
				}
			}
			if tc.edits != nil && !tc.more && len(merr.Problems) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(merr.Problems), len(tc.want), err)
			}
		})
	}
}

func hasProblem(ps []Problem, w problemWant) bool {
	for _, p := range ps {
		if p.Path == w.path && strings.Contains(p.Message, w.msg) {
			return true
		}
	}
	return false
}

func TestValidVariants(t *testing.T) {
	base := readFile(t, "full.yaml")
	cases := []struct {
		name  string
		edits []edit
		warn  []problemWant
		check func(t *testing.T, m *Manifest)
	}{
		{name: "min-os-version alias", edits: []edit{del("eos-version"), set("min-os-version", "0.3.0")}, check: func(t *testing.T, m *Manifest) {
			if m.EOSVersion.String() != "0.3.0" {
				t.Errorf("eos-version = %s", m.EOSVersion)
			}
		}},
		{name: "no optional keys", edits: []edit{
			del("eos-version"), del("git-hash"), del("support-site"), del("marketing-site"), del("donation-url"),
			del("build"), del("assets"), del("images"), del("config"), del("properties"), del("migrations"),
			del("actions"), del("dependencies"), del("alerts"), del("hardware-requirements"), del("replaces"),
			set("health-checks", "{}"), set("volumes", "{main: {type: data}}"), set("interfaces", "{}"),
			set("backup", "{create: {type: docker, image: main, entrypoint: backup.sh, mounts: {BACKUP: /mnt/backup}}, restore: {type: docker, image: main, entrypoint: restore.sh}}"),
		}, check: func(t *testing.T, m *Manifest) {
			if got := m.ImageIDs(); !reflect.DeepEqual(got, []string{"main"}) {
				t.Errorf("default images = %v", got)
			}
			if m.Assets.IconPath() != "icon.png" || m.Assets.LicensePath() != "LICENSE.md" {
				t.Errorf("asset defaults: %+v", m.Assets)
			}
		}},
		{name: "config null", edits: []edit{set("config", "~"), set("properties", "~")}, check: func(t *testing.T, m *Manifest) {
			if m.Config != nil || m.Properties != nil {
				t.Errorf("null config read as %+v", m.Config)
			}
		}},
		{name: "older duplicity form", edits: []edit{
			set("backup/create/args", "[duplicity, hello-world, /mnt/backup, /root/data]"),
			set("backup/restore/args", "[duplicity, hello-world, /root/data, /mnt/backup]"),
		}, check: func(t *testing.T, m *Manifest) {
			if m.Backup.Create.Native != NativeBackupCreate || m.Backup.Restore.Native != NativeBackupRestore {
				t.Errorf("natives: %q %q", m.Backup.Create.Native, m.Backup.Restore.Native)
			}
		}},
		{name: "port as number", edits: []edit{set("interfaces/main/tor-config/port-mapping/80", "8080")}, check: func(t *testing.T, m *Manifest) {
			if m.Interfaces["main"].TorConfig.PortMapping["80"] != 8080 {
				t.Errorf("port = %d", m.Interfaces["main"].TorConfig.PortMapping["80"])
			}
		}},
		{name: "unknown keys warn", edits: []edit{
			set("permissions", "{}"),
			set("main/restart", "always"),
			set("volumes/main/size", "10G"),
			set("health-checks/web/description", "checks the web"),
		}, warn: []problemWant{
			{"permissions", "unknown key"},
			{"main.restart", "unknown key"},
			{"volumes.main.size", "unknown key"},
			{"health-checks.web.description", "unknown key"},
		}},
		{name: "ignored features warn", edits: []edit{
			set("containers", "{main: {image: main, mounts: {main: /root}}}"),
			set("assets/docker-images", "image.tar"),
			set("assets/scripts", "scripts"),
		}, warn: []problemWant{
			{"containers", "not supported"},
			{"assets.docker-images", "ignored"},
			{"assets.scripts", "ignored"},
		}},
		{name: "extension key warns", edits: []edit{
			set("x-proc", "&proc {type: docker, image: main, entrypoint: act.sh, io-format: json}"),
		}, warn: []problemWant{{"x-proc", "unknown key"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := applyEdits(t, base, tc.edits...)
			m, warnings, err := Parse(src)
			if err != nil {
				t.Fatalf("%v\n%s", err, src)
			}
			for _, w := range tc.warn {
				if !hasProblem(warnings, w) {
					t.Errorf("missing warning %s: %q; got %v", w.path, w.msg, warnings)
				}
			}
			if len(warnings) != len(tc.warn) {
				t.Errorf("got warnings %v, want %d", warnings, len(tc.warn))
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

func TestYAMLAliases(t *testing.T) {
	full := string(readFile(t, "full.yaml"))
	src := "x-base: &base\n  type: docker\n  image: main\n  io-format: json\n" +
		strings.Replace(full, "actions:\n", "actions:\n  aliased:\n    name: Aliased\n    description: uses a merge key\n"+
			"    allowed-statuses: [running]\n    implementation:\n      <<: *base\n      entrypoint: aliased.sh\n", 1)
	m, warnings, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	impl := m.Actions["aliased"].Implementation
	if impl.Image != "main" || impl.Entrypoint != "aliased.sh" || impl.IOFormat != "json" {
		t.Errorf("merge key not applied: %+v", impl)
	}
	if len(warnings) != 1 || warnings[0].Path != "x-base" {
		t.Errorf("warnings = %v, want one for x-base", warnings)
	}
}

// Alias bombs and deep nesting are refused instead of expanding.
func TestHostileDocuments(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		prev := "*a" + string(rune('0'+i-1))
		if i > 10 {
			prev = "*a9"
		}
		name := "a" + string(rune('0'+i))
		if i >= 10 {
			name = "b" + string(rune('0'+i-10))
		}
		bomb.WriteString(name + ": &" + name + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	big := bytes.Repeat([]byte("#"), MaxSize+1)
	for name, doc := range map[string][]byte{
		"alias bomb": []byte(bomb.String()),
		"deep YAML":  []byte("id: " + deep),
		"deep JSON":  []byte(`{"id": ` + deep + `}`),
		"too big":    big,
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Parse(doc)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, errdefs.ErrValidateS9pk) {
				t.Errorf("error does not wrap ErrValidateS9pk: %v", err)
			}
		})
	}
}

// The message for a manifest with many problems is kept as a golden file.
func TestErrorGolden(t *testing.T) {
	src := applyEdits(t, readFile(t, "full.yaml"),
		set("health-checks/web/image", "mian"),
		set("main/type", "script"),
		del("title"),
		set("version", "one"),
		set("interfaces/main/tor-config/port-mapping/80", "http"),
		set("actions/reset-greeting/allowed-statuses", "[running, paused]"),
		set("dependencies/filebrowser/requirement/type", "maybe"),
		set("unknown-key", "1"),
	)
	_, warnings, err := Parse(src)
	if err == nil {
		t.Fatal("accepted")
	}
	var b strings.Builder
	b.WriteString(err.Error())
	b.WriteString("\nwarnings:\n")
	for _, w := range warnings {
		b.WriteString("  " + w.String() + "\n")
	}
	goldenFile := filepath.Join("testdata", "errors.golden")
	want := golden.Read(t, goldenFile, []byte(b.String()))
	if b.String() != string(want) {
		t.Errorf("error text changed (run with -update to accept):\n--- got\n%s\n--- want\n%s", b.String(), want)
	}
}

func TestDuration(t *testing.T) {
	good := map[string]string{"30s": "30s", "1m": "1m", "1.5h": "90m", "500ms": "500ms", "2d": "2d", "10us": "10us", "10µs": "10us", "7ns": "7ns", "90s": "90s", "0s": "0s"}
	for in, want := range good {
		d, err := ParseDuration(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if d.String() != want {
			t.Errorf("%s: printed %s, want %s", in, d, want)
		}
	}
	for _, bad := range []string{"", "30", "s", "1.2.3s", "10y", "-1s", "99999999999999999999d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
