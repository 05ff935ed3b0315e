// Package testpkg builds small but real StartOS packages for tests and
// benchmarks: a static Go HTTP server (app.go) in a FROM scratch image, with
// a health check, actions, a data volume and optionally a migration, packed
// and signed as a .s9pk.
//
// A Builder does the work and returns errors; Build and Package.WriteArchive
// wrap it for tests that want the image to stay in the engine.
package testpkg

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/s9pk"
)

// StartupLine is what the service prints when it starts.
const StartupLine = "testpkg: listening on :8080"

// Label marks every engine object a test package makes, for sweeping.
const Label = "dev.startos.package"

// Options shape a test package. The zero value is a working package.
type Options struct {
	ID      string // default a random "testpkg-xxxxxxxx"
	Version string // default "0.1.0"
	// Port is the lan port published on 127.0.0.1 (host side); 0 publishes
	// nothing.
	Port uint16
	// Entrypoint of main; default "/app". A missing file makes a package
	// that cannot start.
	Entrypoint string
	// MainCommand is the app subcommand main runs; default "serve". "fail"
	// exits at once with an error: a service that crash-loops.
	MainCommand string
	// MigrationFrom, when set, is a version range whose migration runs the
	// app in MigrationMode: "migrate" (the default) or "fail".
	MigrationFrom string
	MigrationMode string
	// Requires lists required dependencies: id -> version range.
	Requires map[string]string
	// RAM is hardware-requirements.ram in bytes.
	RAM uint64
	// Assets maps file names to contents of the assets volume "static".
	Assets map[string]string
	// TCPPort, when set, adds interface "peer": a raw TCP echo (container
	// port 9000) that the LAN router forwards on this box port.
	TCPPort uint16
	// Extra is appended to the manifest YAML (more top-level keys).
	Extra string
	// Volumes adds volumes: id -> a YAML flow mapping such as
	// "{type: pointer, package-id: x, volume-id: main}".
	Volumes map[string]string
	// Mounts adds mounts to main: volume id -> path in the container.
	Mounts map[string]string
	// HelloInput gives the hello action an input spec (a string "name"),
	// for frontends that generate forms from it.
	HelloInput bool
	// BackupProcedure gives the package a second data volume "extra"
	// (/extra) and docker backup.create/restore procedures that copy /data
	// and /extra to and from BACKUP, instead of the compat duplicity form.
	BackupProcedure bool
	// Config gives the package a config: "compat" (the compat image's
	// config get/set and properties forms, carried out by the daemon; the
	// spec is config_spec.yaml in Assets), "docker" (the app's config-get,
	// config-set and properties procedures; the spec is spec.json in
	// Assets), or "docker-garbage" / "docker-hang" (config get prints
	// garbage / never ends). The config lives in /data/start9.
	Config string
	// IOFormat, with Config "docker", makes config set and properties use
	// that io-format ("toml" or "cbor"): config set stores its stdin as it
	// comes; properties prints fixed properties (Greeting: hi).
	IOFormat string
	// ConfigRules gives a required dependency (a key of Requires) a docker
	// config check wanting Key = Value in its config, and an auto-configure
	// that sets it.
	ConfigRules map[string]ConfigRule
}

// ConfigRule is what a dependent's config check wants of a dependency's
// config: Key = Value, checked and set by the app's docker procedures; or,
// with Rules (a file name in Assets: a config_rules.yaml), the compat
// image's dependency check and auto-configure, which the daemon carries out.
type ConfigRule struct{ Key, Value, Rules string }

func (o Options) withDefaults() Options {
	if o.ID == "" {
		o.ID = RandomID()
	}
	if o.Version == "" {
		o.Version = "0.1.0"
	}
	if o.Entrypoint == "" {
		o.Entrypoint = "/app"
	}
	if o.MigrationMode == "" {
		o.MigrationMode = "migrate"
	}
	return o
}

// RandomID returns a fresh package id for a test.
func RandomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "testpkg-" + hex.EncodeToString(b)
}

const manifestTmpl = `id: {{.ID}}
title: Test Package
version: {{.Version}}
release-notes: "Test."
license: MIT
wrapper-repo: "https://example.com/wrapper"
upstream-repo: "https://example.com/upstream"
description:
  short: A test service.
  long: A static Go HTTP server for tests.
main:
  type: docker
  image: main
  entrypoint: {{.Entrypoint}}
  args: [{{if .MainCommand}}{{.MainCommand}}{{else}}serve{{end}}]
  mounts:
    main: /data
{{- range $k, $v := .Mounts}}
    {{$k}}: "{{$v}}"
{{- end}}
  sigterm-timeout: 5s
health-checks:
  web:
    name: Web interface
    success-message: The web interface is ready
    type: docker
    image: main
    entrypoint: /app
    args: [health]
    inject: true
    timeout: 10s
volumes:
  main:
    type: data
{{- range $k, $v := .Volumes}}
  {{$k}}: {{$v}}
{{- end}}
{{- if .BackupProcedure}}
  extra:
    type: data
{{- end}}
{{- if .Assets}}
  static:
    type: assets
{{- end}}
interfaces:
  main:
    name: Web interface
    description: The test page.
    tor-config:
      port-mapping:
        80: "8080"
{{- if .Port}}
    lan-config:
      {{.Port}}:
        ssl: false
        internal: 8080
{{- end}}
    ui: true
    protocols: [tcp, http]
{{- if .TCPPort}}
  peer:
    name: Peer port
    description: A raw TCP echo.
    lan-config:
      {{.TCPPort}}:
        ssl: false
        internal: 9000
    ui: false
    protocols: [tcp]
{{- end}}
backup:
{{- if .BackupProcedure}}
  create:
    type: docker
    image: main
    entrypoint: /app
    args: [backup-create]
    mounts:
      BACKUP: /mnt/backup
      main: /data
      extra: /extra
  restore:
    type: docker
    image: main
    entrypoint: /app
    args: [backup-restore]
    mounts:
      BACKUP: /mnt/backup
      main: /data
      extra: /extra
{{- else}}
  create:
    type: docker
    image: compat
    system: true
    entrypoint: compat
    args: [duplicity, create, /mnt/backup, /data]
    mounts:
      BACKUP: /mnt/backup
      main: /data
  restore:
    type: docker
    image: compat
    system: true
    entrypoint: compat
    args: [duplicity, restore, /mnt/backup, /data]
    mounts:
      BACKUP: /mnt/backup
      main: /data
{{- end}}
actions:
  hello:
    name: Say hello
    description: Answers with a greeting.
    allowed-statuses: [running]
    implementation:
      type: docker
      image: main
      entrypoint: /app
      args: [action]
      io-format: json
      mounts:
        main: /data
{{- if .HelloInput}}
    input-spec:
      name:
        type: string
        name: Name
        description: Who to greet.
        nullable: false
        default: world
{{- end}}
  fail:
    name: Fail
    description: Always fails.
    allowed-statuses: [running, stopped]
    implementation:
      type: docker
      image: main
      entrypoint: /app
      args: [fail]
      inject: true
      io-format: json
{{- if eq .Config "compat"}}
config:
  get:
    type: docker
    image: compat
    system: true
    entrypoint: compat
    args: [config, get, /data/start9/config.yaml, /mnt/assets/config_spec.yaml]
    mounts:
      main: /data
      static: /mnt/assets
    io-format: yaml
  set:
    type: docker
    image: compat
    system: true
    entrypoint: compat
    args: [config, set, {{.ID}}, /data/start9/config.yaml, /mnt/assets/config_rules.yaml]
    mounts:
      main: /data
      static: /mnt/assets
    io-format: yaml
properties:
  type: docker
  image: compat
  system: true
  entrypoint: compat
  args: [properties, /data/start9/stats.yaml]
  mounts:
    main: /data
  io-format: yaml
{{- else if .Config}}
config:
  get:
    type: docker
    image: main
    entrypoint: /app
{{- if eq .Config "docker-garbage"}}
    args: [garbage]
{{- else if eq .Config "docker-hang"}}
    args: [sleep]
{{- else}}
    args: [config-get, /data/start9/config.json, /mnt/assets/spec.json]
{{- end}}
    mounts:
      main: /data
      static: /mnt/assets
    io-format: json
  set:
    type: docker
    image: main
    entrypoint: /app
    args: [config-set, /data/start9/config.json, {{or .IOFormat "json"}}]
    mounts:
      main: /data
    io-format: {{or .IOFormat "json"}}
properties:
  type: docker
  image: main
  entrypoint: /app
{{- if .IOFormat}}
  args: [properties-fixed, {{.IOFormat}}]
{{- else}}
  args: [properties, /data/start9/config.json]
{{- end}}
  mounts:
    main: /data
  io-format: {{or .IOFormat "json"}}
{{- end}}
{{- if .MigrationFrom}}
migrations:
  from:
    "{{.MigrationFrom}}":
      type: docker
      image: main
      entrypoint: /app
      args: [{{.MigrationMode}}]
      io-format: json
      mounts:
        main: /data
{{- end}}
{{- if .Requires}}
dependencies:
{{- range $id, $r := .Requires}}
  {{$id}}:
    version: "{{$r}}"
    requirement:
      type: required
{{- $rule := index $.ConfigRules $id}}
{{- with $rule}}{{if .Rules}}
    config:
      check:
        type: docker
        image: compat
        system: true
        entrypoint: compat
        args: [dependency, check, {{$.ID}}, {{$id}}, /data, /mnt/assets/{{.Rules}}]
        mounts:
          main: /data
          static: /mnt/assets
        io-format: yaml
      auto-configure:
        type: docker
        image: compat
        system: true
        entrypoint: compat
        args: [dependency, auto-configure, {{$.ID}}, {{$id}}, /data, /mnt/assets/{{.Rules}}]
        mounts:
          main: /data
          static: /mnt/assets
        io-format: yaml
{{- else if .Key}}
    config:
      check:
        type: docker
        image: main
        entrypoint: /app
        args: [dep-check, "{{.Key}}", "{{.Value}}"]
        io-format: json
      auto-configure:
        type: docker
        image: main
        entrypoint: /app
        args: [dep-autoconf, "{{.Key}}", "{{.Value}}"]
        io-format: json
{{- end}}{{end}}
{{- end}}
{{- end}}
{{- if .RAM}}
hardware-requirements:
  ram: {{.RAM}}
{{- end}}
{{.Extra}}`

var manifestTemplate = template.Must(template.New("manifest").Parse(manifestTmpl))

// NewManifest returns the manifest of the package o describes.
func NewManifest(o Options) (*manifest.Manifest, error) {
	o = o.withDefaults()
	switch o.MigrationMode {
	case "migrate", "fail":
	default:
		return nil, fmt.Errorf("testpkg: migration mode %q is not migrate or fail: %w", o.MigrationMode, errdefs.ErrInvalidRequest)
	}
	var b bytes.Buffer
	if err := manifestTemplate.Execute(&b, o); err != nil {
		return nil, err
	}
	mf, _, err := manifest.Parse(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("testpkg manifest: %w\n%s", err, b.String())
	}
	return mf, nil
}

// Binary returns the path of the compiled app (static, linux). It is built
// once per source text into a folder under the system temp dir and reused
// by later runs, so it is a cache rather than a leftover.
func Binary() (string, error) {
	binOnce.Do(func() { binPath, binErr = compile() })
	return binPath, binErr
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func compile() (string, error) {
	sum := sha256.Sum256([]byte(appSource + runtime.Version()))
	dir := filepath.Join(os.TempDir(), "startos-testpkg-"+hex.EncodeToString(sum[:6]))
	bin := filepath.Join(dir, "app")
	if st, err := os.Stat(bin); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		return bin, nil
	}
	src, err := os.MkdirTemp("", "startos-testpkg-src-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/testpkg\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(appSource), 0o644); err != nil {
		return "", err
	}
	// Build beside the target and rename, so that a concurrent test process
	// never sees half a binary.
	tmp := filepath.Join(src, "app")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of the test app: %v\n%s", err, out)
	}
	staged := bin + ".tmp-" + hex.EncodeToString(sum[6:10]) + RandomID()
	data, err := os.ReadFile(tmp)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(staged, data, 0o755); err != nil {
		return "", err
	}
	return bin, os.Rename(staged, bin)
}

// Builder builds test package images and archives. Every archive it writes
// is signed with Key, so an update comes from the same developer.
type Builder struct {
	Engine *container.Client
	Key    ed25519.PrivateKey
}

// NewBuilder compiles the app (once per process) and makes a signing key.
func NewBuilder(eng *container.Client) (*Builder, error) {
	if _, err := Binary(); err != nil {
		return nil, err
	}
	key, err := s9pk.GenerateKey()
	if err != nil {
		return nil, err
	}
	return &Builder{Engine: eng, Key: key}, nil
}

// BuildImage builds the main image of m in the engine, tagged
// start9/<id>/main:<version> and labelled with the package id, and returns
// the tag.
func (b *Builder) BuildImage(ctx context.Context, m *manifest.Manifest) (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	ctxDir, err := os.MkdirTemp("", "startos-testpkg-ctx-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(ctxDir)
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "app"), data, 0o755); err != nil {
		return "", err
	}
	df := "FROM scratch\nCOPY app /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return "", err
	}
	tag := manifest.DockerTag(m.ID, manifest.MainImage, m.Version)
	var progress bytes.Buffer
	// NoCache: with the build cache, concurrent tests share the untagged
	// intermediate images of these identical steps, and one test's image
	// removal (which prunes untagged parents) deletes them under another's
	// build ("unable to find image sha256:...").
	if _, err := b.Engine.Build(ctx, container.BuildOptions{ContextDir: ctxDir, Tags: []string{tag},
		Labels: map[string]string{Label: m.ID}, NoCache: true}, &progress); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", tag, err, progress.String())
	}
	return tag, nil
}

// SaveImage returns the docker-save archive of tag, what a package holds.
func (b *Builder) SaveImage(ctx context.Context, tag string) ([]byte, error) {
	var out bytes.Buffer
	if _, err := b.Engine.SaveTo(ctx, tag, &out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Image builds the image of the package o describes, saves it and removes
// it from the engine again: the package must bring it.
func (b *Builder) Image(ctx context.Context, o Options) ([]byte, error) {
	m, err := NewManifest(o)
	if err != nil {
		return nil, err
	}
	tag, err := b.BuildImage(ctx, m)
	if err != nil {
		return nil, err
	}
	defer func() { _ = b.Engine.Remove(context.WithoutCancel(ctx), tag, true) }()
	return b.SaveImage(ctx, tag)
}

// Archive writes the package o describes to path, signed with Key. image
// is the main image's docker-save archive; nil builds it (and leaves no
// image in the engine). arch defaults to the host's.
func (b *Builder) Archive(ctx context.Context, path string, o Options, image []byte, arch string) (*manifest.Manifest, error) {
	o = o.withDefaults() // one id for the manifest and the image
	m, err := NewManifest(o)
	if err != nil {
		return nil, err
	}
	if image == nil {
		if image, err = b.Image(ctx, o); err != nil {
			return nil, err
		}
	}
	return m, b.write(path, m, o.Assets, image, arch)
}

func (b *Builder) write(path string, m *manifest.Manifest, assets map[string]string, image []byte, arch string) error {
	if arch == "" {
		arch = manifest.HostArch()
	}
	pkg := &s9pk.Package{
		Manifest:     m,
		Icon:         s9pk.BytesSource(pngPixel),
		License:      s9pk.BytesSource([]byte("MIT\n")),
		Instructions: s9pk.BytesSource([]byte("# " + m.ID + "\n")),
		Images:       []s9pk.PackageImage{{ID: manifest.MainImage, Arch: arch, Source: s9pk.BytesSource(image)}},
	}
	if len(assets) > 0 {
		pkg.Assets = map[string]s9pk.Source{}
		for name, body := range assets {
			pkg.Assets["static/"+strings.TrimPrefix(name, "/")] = s9pk.BytesSource([]byte(body))
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := s9pk.WritePackage(f, b.Key, pkg); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Package is a test package whose image is in the engine.
type Package struct {
	Manifest *manifest.Manifest
	Tag      string // the main image's tag
	opts     Options
	builder  *Builder
}

var (
	keyOnce sync.Once
	procKey ed25519.PrivateKey
	keyErr  error
)

// Build builds the image of the package o describes in the engine and
// returns it; the image and every container of the package are swept when
// the test ends. Archives written from packages of one test process share a
// signing key.
func Build(t testing.TB, c *container.Client, o Options) *Package {
	t.Helper()
	keyOnce.Do(func() { procKey, keyErr = s9pk.GenerateKey() })
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	o = o.withDefaults()
	mf, err := NewManifest(o)
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Engine: c, Key: procKey}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag, err := b.BuildImage(ctx, mf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Sweep(c, mf.ID) })
	return &Package{Manifest: mf, Tag: tag, opts: o, builder: b}
}

// WriteArchive packs p as a signed .s9pk at path, its image saved from the
// engine.
func (p *Package) WriteArchive(t testing.TB, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	img, err := p.builder.SaveImage(ctx, p.Tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.builder.write(path, p.Manifest, p.opts.Assets, img, ""); err != nil {
		t.Fatal(err)
	}
}

// pngPixel is a 1x1 PNG.
var pngPixel = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")

// Sweep removes every container, the network and the images of package id
// (containers by label, images by the versions tests use). Errors are
// ignored: it is a cleanup.
func Sweep(c *container.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, _ := c.ListContainers(ctx, Label+"="+id)
	for _, s := range list {
		_ = c.RemoveContainer(ctx, s.ID, true)
	}
	_ = c.RemoveNetwork(ctx, "startos-"+id)
	for _, v := range []string{"0.0.9", "0.1.0", "0.2.0", "0.3.0", "1.0.0"} {
		_ = c.Remove(ctx, "start9/"+id+"/main:"+v, true)
	}
}

// Engine connects to the local Docker Engine for t and closes it when t
// ends. Without an engine the test is skipped, unless CI=true or
// STARTOS_REQUIRE_DOCKER=1 make that a failure.
func Engine(t testing.TB) *container.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := container.Connect(ctx, container.Options{})
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("STARTOS_REQUIRE_DOCKER") == "1" {
			t.Fatalf("Docker Engine required: %v", err)
		}
		t.Skipf("no Docker Engine (set STARTOS_REQUIRE_DOCKER=1 to make this a failure): %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// FreePort returns a TCP port free on 127.0.0.1 now, for a package's
// lan-config.
func FreePort(t testing.TB) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// BuildPayloadImage builds tag FROM scratch with the test app and size
// bytes of random data, for benchmarks that move a large image around.
// Its build context lives under tmp.
func BuildPayloadImage(ctx context.Context, eng *container.Client, tmp, tag string, size int64) error {
	dir := filepath.Join(tmp, "context")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin, err := Binary()
	if err != nil {
		return err
	}
	app, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "app"), app, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "payload"))
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	df := "FROM scratch\nCOPY payload /payload\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	var out bytes.Buffer
	if _, err := eng.Build(ctx, container.BuildOptions{ContextDir: dir, Tags: []string{tag}, NoCache: true}, &out); err != nil {
		return fmt.Errorf("%w\n%s", err, out.String())
	}
	return nil
}
