package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/startos-go/startos/internal/cliargs"
	"github.com/startos-go/startos/internal/golden"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/s9pk"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type result struct {
	stdout, stderr string
	code           int
}

func startSDK(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"start-sdk"}, args...), strings.NewReader(""), &out, &errb)
	return result{out.String(), errb.String(), code}
}

// home gives the test its own home folder (for the developer key) while
// keeping Go's caches, so build commands stay quick.
func home(t *testing.T) string {
	t.Helper()
	for _, v := range []string{"GOCACHE", "GOPATH", "GOMODCACHE"} {
		out, err := exec.Command("go", "env", v).Output()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(v, strings.TrimSpace(string(out)))
	}
	h := t.TempDir()
	t.Setenv("HOME", h)
	t.Setenv("STARTOS_DEVELOPER_KEY_PATH", "")
	return h
}

func TestReorderArgs(t *testing.T) {
	app := newApp(nil, nil, nil)
	cases := []struct{ in, want string }{
		{"start-sdk pack . -o out.s9pk", "start-sdk pack -o out.s9pk -- ."},
		{"start-sdk pack --no-build dir --arch x86_64", "start-sdk pack --no-build --arch x86_64 -- dir"},
		{"start-sdk --docker-host unix:///x pack dir --output=o", "start-sdk --docker-host unix:///x pack --output=o -- dir"},
		{"start-sdk inspect f.s9pk manifest --format json", "start-sdk inspect --format json -- f.s9pk manifest"},
		{"start-sdk inspect f.s9pk cat -- --weird", "start-sdk inspect -- f.s9pk cat --weird"},
		{"start-sdk key show --format json", "start-sdk key show --format json"},
		{"start-sdk key", "start-sdk key"},
		{"start-sdk", "start-sdk"},
	}
	for _, c := range cases {
		got := strings.Join(cliargs.Reorder(app, strings.Fields(c.in)), " ")
		if got != c.want {
			t.Errorf("%s\n  got  %s\n  want %s", c.in, got, c.want)
		}
	}
}

func TestHelpGolden(t *testing.T) {
	var b strings.Builder
	for _, args := range [][]string{{"--help"}, {"pack", "--help"}, {"inspect", "--help"}, {"key", "--help"}} {
		r := startSDK(t, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		b.WriteString("$ start-sdk " + strings.Join(args, " ") + "\n" + r.stdout + "\n")
	}
	goldenFile := filepath.Join("testdata", "help.golden")
	want := golden.Read(t, goldenFile, []byte(b.String()))
	if b.String() != string(want) {
		t.Errorf("help changed (run with -update to accept):\n%s", b.String())
	}
}

func TestKeyCommands(t *testing.T) {
	h := home(t)
	r := startSDK(t, "key", "show")
	if r.code != 1 || !strings.Contains(r.stderr, "start-sdk key init") {
		t.Errorf("show without a key: %+v", r)
	}
	r = startSDK(t, "key", "init")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("init: %+v", r)
	}
	pub := r.stdout
	p := filepath.Join(h, ".startos", "developer.key.pem")
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	if r := startSDK(t, "key", "init"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second init: %+v", r)
	}
	if r := startSDK(t, "key", "show"); r.code != 0 || r.stdout != pub {
		t.Errorf("show: %+v", r)
	}
	r = startSDK(t, "key", "show", "--format", "json")
	var j map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j["publicKey"] != pub || j["path"] != p {
		t.Errorf("show json: %v %+v", err, r)
	}
	other := filepath.Join(t.TempDir(), "other.pem")
	if r := startSDK(t, "--developer-key-path", other, "key", "init"); r.code != 0 || r.stdout == pub {
		t.Errorf("init at another path: %+v", r)
	}
	if r := startSDK(t, "key", "show", "--format", "yaml"); r.code != 2 {
		t.Errorf("bad format: %+v", r)
	}
}

func TestInitScaffold(t *testing.T) {
	home(t)
	dir := filepath.Join(t.TempDir(), "My Cool_App")
	r := startSDK(t, "init", dir)
	if r.code != 0 {
		t.Fatalf("init: %+v", r)
	}
	for _, f := range append(scaffoldFiles(), "icon.png") {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	m, _, err := readManifest(dir, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var warnings bytes.Buffer
	readManifest(dir, &warnings)
	if warnings.Len() != 0 {
		t.Errorf("the new manifest has warnings:\n%s", warnings.String())
	}
	if m.ID != "my-cool-app" || m.Title != "My Cool App" {
		t.Errorf("id %q title %q", m.ID, m.Title)
	}
	if len(m.Build) == 0 || m.Backup.Create.Native != manifest.NativeBackupCreate || len(m.Actions) != 1 || m.Volumes["main"].Type != manifest.VolumeData {
		t.Errorf("scaffold manifest lacks build, native backup, an action or a data volume: %+v", m)
	}
	if m.Config == nil || m.Config.Get.Native != manifest.NativeConfigGet || m.Properties == nil || m.Properties.Native != manifest.NativeProperties {
		t.Errorf("scaffold manifest lacks the compat config and properties forms: %+v %+v", m.Config, m.Properties)
	}
	if err := checkConfigSpecs(dir, m); err != nil {
		t.Errorf("the scaffold's config spec: %v", err)
	}
	if r := startSDK(t, "init", dir); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("init over an existing package: %+v", r)
	}
	if r := startSDK(t, "init", "--id", "Bad_ID", t.TempDir()); r.code != 2 {
		t.Errorf("bad id: %+v", r)
	}
}

func TestPackRefusesInvalidManifest(t *testing.T) {
	home(t)
	dir := t.TempDir()
	if r := startSDK(t, "key", "init"); r.code != 0 {
		t.Fatal(r)
	}
	if r := startSDK(t, "init", dir); r.code != 0 {
		t.Fatal(r)
	}
	p := filepath.Join(dir, "manifest.yaml")
	b, _ := os.ReadFile(p)
	b = bytes.Replace(b, []byte("    image: main\n    entrypoint: /app\n    args: [health]"), []byte("    image: mian\n    entrypoint: /app\n    args: [health]\n    colour: blue"), 1)
	b = bytes.Replace(b, []byte("title: "), []byte("titel: "), 1)
	os.WriteFile(p, b, 0o644)
	r := startSDK(t, "pack", dir)
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		`health-checks.web.image: unknown image "mian"`,
		"title: required",
		"warning: manifest.yaml: health-checks.web.colour: unknown key, ignored",
		"warning: manifest.yaml: titel: unknown key, ignored",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "app")); err == nil {
		t.Error("build commands ran for an invalid manifest")
	}
}

func TestPackRefusesInvalidConfigSpec(t *testing.T) {
	home(t)
	dir := t.TempDir()
	if r := startSDK(t, "key", "init"); r.code != 0 {
		t.Fatal(r)
	}
	if r := startSDK(t, "init", dir); r.code != 0 {
		t.Fatal(r)
	}
	p := filepath.Join(dir, "assets", "compat", "config_spec.yaml")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(b, []byte("len: 20"), []byte("len: 0"), 1), 0o644)
	r := startSDK(t, "pack", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "config spec assets/compat/config_spec.yaml: invalid config spec: password.default.len: want 1 to 4096") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "app")); err == nil {
		t.Error("build commands ran for an invalid config spec")
	}
}

// An archive written by the library (with hand-made image archives) verifies;
// one changed byte makes verify fail and say where.
func TestVerifyAndInspectOffline(t *testing.T) {
	home(t)
	file := filepath.Join(t.TempDir(), "hello.s9pk")
	writeTestArchive(t, file)

	r := startSDK(t, "verify", file)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "OK: ") {
		t.Fatalf("verify: %+v", r)
	}
	r = startSDK(t, "verify", "--format", "json", file)
	var rep verifyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.OK || rep.ID != "hello" || !reflect.DeepEqual(rep.Arches, []string{"x86_64"}) {
		t.Errorf("verify json: %v %+v", err, rep)
	}

	r = startSDK(t, "inspect", file, "manifest")
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || m["id"] != "hello" || !strings.Contains(r.stdout, "\n  \"") {
		t.Errorf("inspect manifest: %v %+v", err, r)
	}
	if r := startSDK(t, "inspect", file, "manifest", "--format", "json"); strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("json manifest is not one line: %q", r.stdout)
	}
	r = startSDK(t, "inspect", "--format", "json", file, "file-tree")
	var tree []treeEntry
	if err := json.Unmarshal([]byte(r.stdout), &tree); err != nil {
		t.Fatal(err, r)
	}
	paths := map[string]string{}
	for _, e := range tree {
		paths[e.Path] = e.Type
	}
	for p, typ := range map[string]string{"manifest.json": "file", "images": "directory", "images/x86_64/main.tar": "file", "assets/static/index.html": "file"} {
		if paths[p] != typ {
			t.Errorf("file-tree: %s is %q, want %s", p, paths[p], typ)
		}
	}
	if r := startSDK(t, "inspect", file, "file-tree"); !strings.Contains(r.stdout, "images/x86_64/main.tar") {
		t.Errorf("text file-tree: %s", r.stdout)
	}
	if r := startSDK(t, "inspect", file, "cat", "assets/static/index.html"); r.stdout != "<h1>hello</h1>" {
		t.Errorf("cat: %+v", r)
	}
	if r := startSDK(t, "inspect", file, "cat", "nope"); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("cat missing: %+v", r)
	}
	r = startSDK(t, "inspect", file, "commitment", "--format", "json")
	var c s9pk.Commitment
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || c.RootMaxSize == 0 {
		t.Errorf("commitment: %v %+v", err, r)
	}
	if r := startSDK(t, "inspect", file, "commitment"); !strings.Contains(r.stdout, "rootSighash: ") {
		t.Errorf("text commitment: %+v", r)
	}
	if r := startSDK(t, "inspect", file, "icon"); r.code != 2 {
		t.Errorf("unknown target: %+v", r)
	}

	// Damage the license and verify again.
	a, err := s9pk.OpenFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := a.Stat("LICENSE.md")
	a.Close()
	data, _ := os.ReadFile(file)
	data[e.Pos] ^= 0xff
	os.WriteFile(file, data, 0o644)
	r = startSDK(t, "verify", "--format", "json", file)
	if r.code != 1 {
		t.Fatalf("damaged archive verified: %+v", r)
	}
	rep = verifyReport{}
	json.Unmarshal([]byte(r.stdout), &rep)
	if rep.OK || len(rep.Problems) != 1 || rep.Problems[0].Path != "LICENSE.md" || !strings.Contains(rep.Problems[0].Message, "do not match their hash") {
		t.Errorf("report: %+v", rep)
	}
	r = startSDK(t, "verify", file)
	if r.code != 1 || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stdout, "LICENSE.md") {
		t.Errorf("text report: %+v", r)
	}
	// A header problem means nothing else is checked.
	data[40] ^= 1
	os.WriteFile(file, data, 0o644)
	if r := startSDK(t, "verify", file); r.code != 1 || !strings.Contains(r.stdout, "signature does not verify") {
		t.Errorf("bad signature: %+v", r)
	}
}

func writeTestArchive(t *testing.T, file string) {
	t.Helper()
	m, _, err := manifest.Parse([]byte(`
id: hello
title: Hello
version: 1.0.0
release-notes: first
license: mit
wrapper-repo: https://example.com/w
upstream-repo: https://example.com/u
description: {short: hi, long: hello there}
main: {type: docker, image: main, entrypoint: /app}
health-checks: {}
volumes: {static: {type: assets}}
interfaces: {}
backup:
  create: {type: docker, image: main, entrypoint: /app, args: [backup]}
  restore: {type: docker, image: main, entrypoint: /app, args: [restore]}
`))
	if err != nil {
		t.Fatal(err)
	}
	key, err := s9pk.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = s9pk.WritePackage(f, key, &s9pk.Package{
		Manifest:     m,
		Icon:         s9pk.BytesSource(icon("hello")),
		License:      s9pk.BytesSource([]byte("MIT")),
		Instructions: s9pk.BytesSource([]byte("# Hello")),
		Assets:       map[string]s9pk.Source{"static/index.html": s9pk.BytesSource([]byte("<h1>hello</h1>"))},
		Images:       []s9pk.PackageImage{{ID: "main", Arch: "x86_64", Source: s9pk.BytesSource(fakeImage(t, "start9/hello/main:1.0.0", "amd64"))}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fakeImage(t *testing.T, tag, arch string) []byte {
	var out bytes.Buffer
	w := tar.NewWriter(&out)
	add := func(name string, data []byte) {
		w.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		w.Write(data)
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": arch, "os": "linux"})
	man, _ := json.Marshal([]map[string]any{{"Config": "c.json", "RepoTags": []string{tag}, "Layers": []string{}}})
	add("c.json", cfg)
	add("manifest.json", man)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestVersionSummaryAndOldForms: --version; inspect FILE alone summarises;
// the StartOS 0.3 argument orders of wrapper Makefiles work, with a note.
func TestVersionSummaryAndOldForms(t *testing.T) {
	home(t)
	if version != startos.Version {
		t.Errorf("start-sdk %s, product %s", version, startos.Version)
	}
	if r := startSDK(t, "--version"); r.code != 0 || !strings.Contains(r.stdout, version) {
		t.Errorf("--version: %+v", r)
	}
	file := filepath.Join(t.TempDir(), "hello.s9pk")
	writeTestArchive(t, file)
	if r := startSDK(t, "inspect", file); r.code != 0 || !strings.Contains(r.stdout, "(hello)") || !strings.Contains(r.stdout, "x86_64") {
		t.Errorf("inspect FILE: %+v", r)
	}
	var sum inspectSummary
	if r := startSDK(t, "inspect", file, "--format", "json"); json.Unmarshal([]byte(r.stdout), &sum) != nil || sum.ID != "hello" || sum.Files == 0 {
		t.Errorf("inspect FILE json: %+v %+v", r, sum)
	}
	if r := startSDK(t, "verify", "s9pk", file); r.code != 0 || !strings.HasPrefix(r.stdout, "OK: ") || !strings.Contains(r.stderr, "0.3 form") {
		t.Errorf("verify s9pk FILE: %+v", r)
	}
	var m map[string]any
	if r := startSDK(t, "inspect", "manifest", file); json.Unmarshal([]byte(r.stdout), &m) != nil || m["id"] != "hello" || !strings.Contains(r.stderr, "0.3 form") {
		t.Errorf("inspect manifest FILE: %+v", r)
	}
}
