package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/s9pk"
)

// engine is the local Docker Engine (testpkg.Engine: skipped without one,
// unless CI=true or STARTOS_REQUIRE_DOCKER=1 demand it).
func engine(t *testing.T) *container.Client { return testpkg.Engine(t) }

func removeImages(t *testing.T, c *container.Client, refs ...string) {
	t.Cleanup(func() {
		for _, r := range refs {
			c.Remove(context.Background(), r, true)
		}
	})
}

func randomID() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// `start-sdk init` makes a package that packs here, with no registry: its
// build command compiles a static binary for a FROM scratch image. The
// archive verifies, and its image loads back into the engine.
func TestInitPackVerifyInspect(t *testing.T) {
	eng := engine(t)
	home(t)
	id := "sdk-test-" + randomID()
	dir := filepath.Join(t.TempDir(), id)
	if r := startSDK(t, "key", "init"); r.code != 0 {
		t.Fatal(r)
	}
	if r := startSDK(t, "init", dir); r.code != 0 {
		t.Fatal(r)
	}
	tag := "start9/" + id + "/main:0.1.0"
	removeImages(t, eng, tag)

	out := filepath.Join(t.TempDir(), "out.s9pk")
	r := startSDK(t, "pack", dir, "-o", out, "--format", "json")
	if r.code != 0 {
		t.Fatalf("pack: exit %d\n%s", r.code, r.stderr)
	}
	for _, step := range []string{"==> Build command 1/1 (x86_64)", "==> Building image main (x86_64)", "Step 1/", "==> Writing " + out, "images/x86_64/main.tar"} {
		if !strings.Contains(r.stderr, step) {
			t.Errorf("progress lacks %q:\n%s", step, r.stderr)
		}
	}
	var res packResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if res.Path != out || res.ID != id || res.Version != "0.1.0" || res.Size == 0 {
		t.Errorf("pack result %+v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "app")); err != nil {
		t.Errorf("the build command did not produce the binary: %v", err)
	}
	// The image loaded back below has no build cache, so the second pack
	// builds a new one and this one loses its tag: remove it by id too.
	if built, err := eng.Inspect(context.Background(), tag); err == nil {
		removeImages(t, eng, built.ID)
	}

	if r := startSDK(t, "verify", out); r.code != 0 {
		t.Fatalf("verify: %+v", r)
	}
	r = startSDK(t, "inspect", out, "commitment", "--format", "json")
	var c s9pk.Commitment
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || c != res.Commitment {
		t.Errorf("inspect commitment %s, pack said %+v", r.stdout, res.Commitment)
	}

	// Read it back: open, find the image, load it into the engine.
	a, err := s9pk.OpenFile(out, &s9pk.Options{Commitment: &res.Commitment})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Manifest().ID != id || a.Manifest().Actions["greet"] == nil || a.Manifest().HealthChecks["web"] == nil {
		t.Errorf("manifest %+v", a.Manifest())
	}
	imgs := a.Images("x86_64")
	if len(imgs) != 1 || imgs[0].ID != "main" {
		t.Fatalf("images %+v", imgs)
	}
	if err := eng.Remove(context.Background(), tag, true); err != nil {
		t.Fatal(err)
	}
	rc, err := a.OpenImage(imgs[0])
	if err != nil {
		t.Fatal(err)
	}
	refs, err := eng.Load(context.Background(), rc)
	rc.Close()
	if err != nil || len(refs) != 1 || refs[0] != tag {
		t.Fatalf("load: %v %v", refs, err)
	}
	img, err := eng.Inspect(context.Background(), tag)
	if err != nil || strings.Join(img.Entrypoint, " ") != "/app" || img.Architecture != "amd64" {
		t.Errorf("loaded image: %+v %v", img, err)
	}

	// A second pack, without the build commands, gives a good archive too.
	out2 := filepath.Join(t.TempDir(), "again.s9pk")
	if r := startSDK(t, "pack", "--no-build", "-o", out2, dir); r.code != 0 || !strings.Contains(r.stdout, "Wrote "+out2) || strings.Contains(r.stderr, "Build command") {
		t.Errorf("pack --no-build: %+v", r)
	}
}

// staticBinary compiles a tiny Go program without cgo into dir/name.
func staticBinary(t *testing.T, dir, name, mainGo string) {
	t.Helper()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte(mainGo), 0o644)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, name), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

const twoImageManifest = `
id: {{ID}}
title: Two Images
version: 2.0.0.1
release-notes: two images and assets
license: mit
wrapper-repo: https://example.com/w
upstream-repo: https://example.com/u
description: {short: two images, long: a package with two images and assets}
images:
  main: {}
  tools: {}
main: {type: docker, image: main, entrypoint: /app, mounts: {data: /data, static: /static}}
health-checks:
  web: {name: Web, type: docker, image: main, inject: true, entrypoint: /app, args: [health]}
volumes:
  data: {type: data}
  static: {type: assets}
interfaces:
  main: {name: Web, description: web, lan-config: {443: {ssl: true, internal: 8080}}, ui: true, protocols: [tcp, http]}
backup:
  create: {type: docker, image: tools, entrypoint: /tool, args: [backup], mounts: {BACKUP: /mnt/backup, data: /data}}
  restore: {type: docker, image: tools, entrypoint: /tool, args: [restore], mounts: {BACKUP: /mnt/backup, data: /data}}
actions:
  tidy:
    name: Tidy
    description: runs the tool
    allowed-statuses: [stopped]
    implementation: {type: docker, image: tools, entrypoint: /tool, args: [tidy], io-format: json, mounts: {data: /data}}
`

// A package with two images, one built from its Dockerfile around a static
// binary built here and one taken from an existing tag, plus assets, packs,
// verifies and reads back.
func TestTwoImagesAndAssets(t *testing.T) {
	eng := engine(t)
	home(t)
	if r := startSDK(t, "key", "init"); r.code != 0 {
		t.Fatal(r)
	}
	ctx := context.Background()
	id := "two-" + randomID()
	dir := t.TempDir()
	files := map[string]string{
		"manifest.yaml":                strings.ReplaceAll(twoImageManifest, "{{ID}}", id),
		"Dockerfile":                   "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
		"LICENSE.md":                   "MIT\n",
		"instructions.md":              "# Two\n",
		"assets/static/index.html":     "<h1>two</h1>",
		"assets/static/css/site.css":   "h1 { color: red }",
		"tools-context/Dockerfile":     "FROM scratch\nCOPY tool /tool\nENTRYPOINT [\"/tool\"]\n",
		"tools-context/.dockerignore":  "*.log\n",
		"tools-context/build.log":      "not sent",
		"assets/static/img/.gitignore": "",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "icon.png"), icon(id), 0o644)
	staticBinary(t, dir, "app", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"main\") }\n")
	staticBinary(t, filepath.Join(dir, "tools-context"), "tool", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"tool\") }\n")

	toolsRef := "startos-test/tools-" + randomID() + ":1"
	removeImages(t, eng, toolsRef, "start9/"+id+"/main:2.0.0.1", "start9/"+id+"/tools:2.0.0.1")
	if _, err := eng.Build(ctx, container.BuildOptions{ContextDir: filepath.Join(dir, "tools-context"), Tags: []string{toolsRef}}, io.Discard); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "two.s9pk")
	r := startSDK(t, "pack", dir, "--docker-tag", "tools="+toolsRef, "-o", out)
	if r.code != 0 {
		t.Fatalf("pack: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "==> Taking image tools (x86_64) from "+toolsRef) {
		t.Errorf("progress:\n%s", r.stderr)
	}
	if r := startSDK(t, "verify", out); r.code != 0 {
		t.Fatalf("verify: %+v", r)
	}
	r = startSDK(t, "inspect", out, "file-tree")
	for _, p := range []string{"images/x86_64/main.tar", "images/x86_64/tools.tar", "assets/static/index.html", "assets/static/css/site.css", "assets/static/img/.gitignore"} {
		if !strings.Contains(r.stdout, p) {
			t.Errorf("file-tree lacks %s:\n%s", p, r.stdout)
		}
	}
	if r := startSDK(t, "inspect", out, "cat", "assets/static/css/site.css"); r.stdout != "h1 { color: red }" {
		t.Errorf("cat: %+v", r)
	}

	a, err := s9pk.OpenFile(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, img := range a.Images("x86_64") {
		rc, err := a.OpenImage(img)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		ia, err := s9pk.InspectImageArchive(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		want := "start9/" + id + "/" + img.ID + ":2.0.0.1"
		if len(ia.RepoTags) != 1 || ia.RepoTags[0] != want || ia.Architecture != "amd64" {
			t.Errorf("%s: %+v, want tag %s", img.ID, ia, want)
		}
		entry := map[string]string{"main": "/app", "tools": "/tool"}[img.ID]
		if strings.Join(ia.Entrypoint, " ") != entry {
			t.Errorf("%s: entrypoint %v", img.ID, ia.Entrypoint)
		}
	}
	if n := len(a.Images("x86_64")); n != 2 {
		t.Errorf("%d images", n)
	}

	// A tag for the wrong architecture, or a missing one, is refused.
	if r := startSDK(t, "pack", dir, "--no-build", "--docker-tag", "tools=startos-test/none:0", "-o", out); r.code != 1 || !strings.Contains(r.stderr, "image tools") {
		t.Errorf("missing tag: %+v", r)
	}
	if r := startSDK(t, "pack", dir, "--docker-tag", "nope=x:1"); r.code != 2 {
		t.Errorf("unknown image: %+v", r)
	}
}
