// Package testpkg builds a small real package for integration tests: a
// static Go HTTP server in a FROM scratch image, with a health check, an
// action, a data volume and a migration, and can pack it as a signed .s9pk.
package testpkg

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// Options shape a test package. Zero values are fine except Port.
type Options struct {
	ID      string // default a random "testpkg-xxxxxxxx"
	Version string // default "0.1.0"
	Port    uint16 // the lan port published on 127.0.0.1 (host side)
	// Entrypoint of main; default "/app". A missing file makes a package
	// that cannot start.
	Entrypoint string
	// Extra is appended to the manifest YAML (more keys).
	Extra string
}

// Package is a built test package: its manifest and its image in the engine.
type Package struct {
	Manifest *manifest.Manifest
	Tag      string // the main image's tag
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binary builds the app once per test process.
func binary() (string, error) {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "testpkg-bin-")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		src := filepath.Join(dir, "src")
		os.MkdirAll(src, 0o755)
		os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/testpkg\n\ngo 1.22\n"), 0o644)
		os.WriteFile(filepath.Join(src, "main.go"), []byte(appSource), 0o644)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "app"), ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build of the test app: %v\n%s", err, out)
		}
	})
	return filepath.Join(binDir, "app"), binErr
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
  args: [serve]
  mounts:
    main: /data
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
interfaces:
  main:
    name: Web interface
    description: The test page.
    lan-config:
      {{.Port}}:
        ssl: false
        internal: 8080
    ui: true
    protocols: [tcp, http]
backup:
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
migrations:
  from:
    "*":
      type: docker
      image: main
      entrypoint: /app
      args: [migrate]
      io-format: json
      mounts:
        main: /data
  to:
    "*":
      type: docker
      image: main
      entrypoint: /app
      args: [migrate]
      io-format: json
      mounts:
        main: /data
{{.Extra}}`

// RandomID returns a fresh package id for a test.
func RandomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "testpkg-" + hex.EncodeToString(b)
}

// NewManifest returns the test package's manifest.
func NewManifest(o Options) (*manifest.Manifest, error) {
	if o.ID == "" {
		o.ID = RandomID()
	}
	if o.Version == "" {
		o.Version = "0.1.0"
	}
	if o.Entrypoint == "" {
		o.Entrypoint = "/app"
	}
	if o.Port == 0 {
		return nil, fmt.Errorf("testpkg: a port is needed: %w", errdefs.ErrInvalidRequest)
	}
	var b bytes.Buffer
	if err := template.Must(template.New("m").Parse(manifestTmpl)).Execute(&b, o); err != nil {
		return nil, err
	}
	mf, _, err := manifest.Parse(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("testpkg manifest: %w", err)
	}
	return mf, nil
}

// Build builds the test package's image in the engine (tag
// start9/<id>/main:<version>, labelled with the package id) and returns it.
// The image is removed when the test ends.
func Build(t testing.TB, c *container.Client, o Options) *Package {
	t.Helper()
	mf, err := NewManifest(o)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := t.TempDir()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "app"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY app /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := manifest.DockerTag(mf.ID, manifest.MainImage, mf.Version)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Build(ctx, container.BuildOptions{ContextDir: ctxDir, Tags: []string{tag}, Labels: map[string]string{Label: mf.ID}}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Sweep(c, mf.ID) })
	return &Package{Manifest: mf, Tag: tag}
}

// WriteArchive packs p as a signed .s9pk at path, its image saved from the
// engine, for tests that reload images from the archive.
func (p *Package) WriteArchive(t testing.TB, c *container.Client, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var img bytes.Buffer
	if _, err := c.SaveTo(ctx, p.Tag, &img); err != nil {
		t.Fatal(err)
	}
	key, err := s9pk.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkg := &s9pk.Package{
		Manifest:     p.Manifest,
		Icon:         s9pk.BytesSource(pngPixel),
		License:      s9pk.BytesSource([]byte("MIT\n")),
		Instructions: s9pk.BytesSource([]byte("# Test\n")),
		Images:       []s9pk.PackageImage{{ID: manifest.MainImage, Arch: hostArch(), Source: s9pk.BytesSource(img.Bytes())}},
	}
	if _, err := s9pk.WritePackage(f, key, pkg); err != nil {
		t.Fatal(err)
	}
}

func hostArch() string {
	switch a := strings.TrimSpace(goarch); a {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	default:
		return a
	}
}

// pngPixel is a 1x1 PNG.
var pngPixel = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")

// Sweep removes every container, network and image of package id (by label
// and by tag prefix). Errors are ignored: it is a cleanup.
func Sweep(c *container.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, _ := c.ListContainers(ctx, Label+"="+id)
	for _, s := range list {
		c.RemoveContainer(ctx, s.ID, true)
	}
	c.RemoveNetwork(ctx, "startos-"+id)
	for _, v := range []string{"0.1.0", "0.2.0", "0.3.0"} {
		if err := c.Remove(ctx, "start9/"+id+"/main:"+v, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			continue
		}
	}
}
