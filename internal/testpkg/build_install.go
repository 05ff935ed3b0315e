// Package testpkg builds small but real StartOS packages for tests: a static
// Go HTTP server in a FROM scratch image, packed and signed as a .s9pk.
package testpkg

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/s9pk"
)

// AppSource is the test service. Its first argument picks what it does:
//
//	serve    HTTP on :8080 (/health answers ok); prints "app listening"
//	health   exits 0 when /health answers
//	migrate  appends "migrated from <stdin>" to /data/state.txt, prints {}
//	fail     prints "migration exploded" on stderr and exits 3
const AppSource = `package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	mode := "serve"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "serve":
		http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
		go func() {
			c := make(chan os.Signal, 1)
			signal.Notify(c, syscall.SIGTERM, os.Interrupt)
			<-c
			os.Exit(0)
		}()
		fmt.Println("app listening")
		if err := http.ListenAndServe(":8080", nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "health":
		resp, err := http.Get("http://127.0.0.1:8080/health")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		resp.Body.Close()
	case "migrate":
		in, _ := io.ReadAll(os.Stdin)
		f, err := os.OpenFile("/data/state.txt", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Fprintf(f, "migrated from %s\n", in)
		f.Close()
		fmt.Println("{}")
	case "fail":
		fmt.Fprintln(os.Stderr, "migration exploded")
		os.Exit(3)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
}
`

// Spec describes a test package.
type Spec struct {
	ID      string
	Version string
	// MigrationFrom, when set, is a version range whose migration runs the
	// app in mode MigrationMode ("migrate" or "fail").
	MigrationFrom string
	MigrationMode string
	// Requires lists required dependencies: id -> version range.
	Requires map[string]string
	// RAM is hardware-requirements.ram in bytes.
	RAM uint64
	// Assets maps "<file>" to contents of the assets volume "static".
	Assets map[string]string
}

const manifestTemplate = `id: {{.ID}}
title: Test {{.ID}}
version: {{.Version}}
release-notes: test
license: MIT
wrapper-repo: "https://example.com/w"
upstream-repo: "https://example.com/u"
description:
  short: A test service.
  long: A test service built by a test.
main:
  type: docker
  image: main
  entrypoint: /app
  args: [serve]
  mounts:
    main: /data
  sigterm-timeout: 5s
health-checks:
  web:
    name: Web
    type: docker
    image: main
    entrypoint: /app
    args: [health]
    inject: true
volumes:
  main:
    type: data
{{- if .Assets}}
  static:
    type: assets
{{- end}}
interfaces:
  main:
    name: Web
    description: The web page.
    tor-config:
      port-mapping:
        80: "8080"
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
{{- if .MigrationFrom}}
migrations:
  from:
    "{{.MigrationFrom}}":
      type: docker
      image: main
      entrypoint: /app
      args: [{{.MigrationMode}}]
      mounts:
        main: /data
      io-format: json
{{- end}}
{{- if .Requires}}
dependencies:
{{- range $id, $r := .Requires}}
  {{$id}}:
    version: "{{$r}}"
    requirement:
      type: required
{{- end}}
{{- end}}
{{- if .RAM}}
hardware-requirements:
  ram: {{.RAM}}
{{- end}}
`

// Manifest returns the manifest of s.
func (s Spec) Manifest() (*manifest.Manifest, error) {
	if s.MigrationMode == "" {
		s.MigrationMode = "migrate"
	}
	var b bytes.Buffer
	if err := template.Must(template.New("m").Parse(manifestTemplate)).Execute(&b, s); err != nil {
		return nil, err
	}
	m, _, err := manifest.Parse(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("test manifest: %w\n%s", err, b.String())
	}
	return m, nil
}

// Builder compiles the app once and builds images and packages from it.
type Builder struct {
	eng *container.Client
	dir string // holds app and Dockerfile
	Key ed25519.PrivateKey
}

// NewBuilder compiles AppSource (static, linux) into a build context under
// dir.
func NewBuilder(eng *container.Client, dir string) (*Builder, error) {
	src := filepath.Join(dir, "src")
	ctxDir := filepath.Join(dir, "ctx")
	for _, d := range []string{src, ctxDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte(AppSource), 0o644)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(ctxDir, "app"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	df := "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return nil, err
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	return &Builder{eng: eng, dir: ctxDir, Key: key}, nil
}

// Image builds the app image as tag, saves it and removes it from the
// engine again: the returned docker-save archive is what a package holds.
func (b *Builder) Image(ctx context.Context, tag string) ([]byte, error) {
	var progress bytes.Buffer
	if _, err := b.eng.Build(ctx, container.BuildOptions{ContextDir: b.dir, Tags: []string{tag},
		Labels: map[string]string{"dev.startos.test": "1"}}, &progress); err != nil {
		return nil, fmt.Errorf("build %s: %w\n%s", tag, err, progress.String())
	}
	defer b.eng.Remove(context.WithoutCancel(ctx), tag, true)
	var out bytes.Buffer
	if _, err := b.eng.SaveTo(ctx, tag, &out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Package writes the package s to path. image is the main image's archive;
// nil builds it (tagged start9/<id>/main:<version>). arch defaults to
// x86_64.
func (b *Builder) Package(ctx context.Context, path string, s Spec, image []byte, arch string) (*manifest.Manifest, error) {
	m, err := s.Manifest()
	if err != nil {
		return nil, err
	}
	if image == nil {
		if image, err = b.Image(ctx, manifest.DockerTag(m.ID, manifest.MainImage, m.Version)); err != nil {
			return nil, err
		}
	}
	if arch == "" {
		arch = "x86_64"
	}
	pkg := &s9pk.Package{
		Manifest:     m,
		Icon:         s9pk.BytesSource(pngIcon),
		License:      s9pk.BytesSource([]byte("MIT\n")),
		Instructions: s9pk.BytesSource([]byte("# " + m.ID + "\n")),
		Images:       []s9pk.PackageImage{{ID: manifest.MainImage, Arch: arch, Source: s9pk.BytesSource(image)}},
	}
	if len(s.Assets) > 0 {
		pkg.Assets = map[string]s9pk.Source{}
		for name, body := range s.Assets {
			pkg.Assets["static/"+strings.TrimPrefix(name, "/")] = s9pk.BytesSource([]byte(body))
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := s9pk.WritePackage(f, b.Key, pkg); err != nil {
		return nil, err
	}
	return m, f.Close()
}

// pngIcon is a 1x1 PNG.
var pngIcon = []byte{
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
	0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
	0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
	0x42, 0x60, 0x82,
}
