package container

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"
	"go.uber.org/goleak"

	"github.com/startos-go/startos/startos/errdefs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// engine connects to the local engine. Without one the test is skipped,
// unless CI=true or STARTOS_REQUIRE_DOCKER=1 demand it.
func engine(t *testing.T) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, Options{})
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("STARTOS_REQUIRE_DOCKER") == "1" {
			t.Fatalf("Docker Engine required (CI or STARTOS_REQUIRE_DOCKER): %v", err)
		}
		t.Skipf("no Docker Engine (set STARTOS_REQUIRE_DOCKER=1 to make this a failure): %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// staticBinary compiles a tiny Go program without cgo into dir/name.
func staticBinary(t *testing.T, dir, name, mainGo string) {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(mainGo), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, name), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

func randomTag(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "startos-test/container-" + hex.EncodeToString(b) + ":1"
}

func TestConnectUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nothing.sock")
	start := time.Now()
	_, err := Connect(context.Background(), Options{Host: "unix://" + sock, CallTimeout: 2 * time.Second})
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), sock) {
		t.Errorf("error does not name the address: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestDockerignore(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile":      "FROM scratch\n",
		"app":             "binary",
		"notes.md":        "notes",
		"data/big.bin":    "big",
		"data/keep.txt":   "keep",
		"src/a/b/x.go":    "code",
		"src/readme.md":   "readme (not matched by *.md)",
		".git/HEAD":       "ref",
		".dockerignore":   "# only the binary and kept data\n*.md\ndata\n!data/keep.txt\n**/*.go\n.git\n",
		"deep/dir/n.md":   "nested md (not matched by *.md)",
		"deep/dir/ok.txt": "ok",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	var buf bytes.Buffer
	if err := writeContext(&buf, dir, "Dockerfile"); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			got[h.Name] = true
		}
	}
	for _, want := range []string{"Dockerfile", ".dockerignore", "app", "data/keep.txt", "deep/dir/n.md", "deep/dir/ok.txt", "src/readme.md"} {
		if !got[want] {
			t.Errorf("%s missing from the context", want)
		}
	}
	for _, not := range []string{"notes.md", "data/big.bin", "src/a/b/x.go", ".git/HEAD"} {
		if got[not] {
			t.Errorf("%s sent although ignored", not)
		}
	}
	if err := writeContext(io.Discard, dir, "Missing.Dockerfile"); err == nil {
		t.Error("missing Dockerfile accepted")
	}
}

// Build a FROM scratch image around a static binary, save it, remove it,
// load it back, and inspect it, against the real engine.
func TestBuildSaveLoad(t *testing.T) {
	c := engine(t)
	ctx := context.Background()
	if info, err := c.Ping(ctx); err != nil || info.APIVersion == "" {
		t.Fatalf("ping: %+v %v", info, err)
	}
	dir := t.TempDir()
	staticBinary(t, dir, "app", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n")
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nARG GREETING\nLABEL greeting=$GREETING\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "junk.bin"), bytes.Repeat([]byte{1}, 1<<20), 0o644)
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("junk.bin\n"), 0o644)

	tag := randomTag(t)
	t.Cleanup(func() { c.Remove(context.Background(), tag, true) })
	var progress bytes.Buffer
	id, err := c.Build(ctx, BuildOptions{ContextDir: dir, Tags: []string{tag}, BuildArgs: map[string]string{"GREETING": "hi"}}, &progress)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, progress.String())
	}
	if !strings.HasPrefix(id, "sha256:") || !strings.Contains(progress.String(), "Step") {
		t.Errorf("id %q, output:\n%s", id, progress.String())
	}
	img, err := c.Inspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != id || img.Architecture != "amd64" || img.OS != "linux" || strings.Join(img.Entrypoint, " ") != "/app" {
		t.Errorf("inspect: %+v", img)
	}

	var saved bytes.Buffer
	n, err := c.SaveTo(ctx, tag, &saved)
	if err != nil || n != int64(saved.Len()) {
		t.Fatalf("save: %d %v", n, err)
	}
	names, tags := tarIndex(t, saved.Bytes())
	if !names["manifest.json"] || len(tags) != 1 || tags[0] != tag {
		t.Errorf("saved archive: tags %v, files %v", tags, names)
	}
	if inLayers(t, saved.Bytes(), "junk.bin") {
		t.Error("an ignored file reached the image")
	}
	if !inLayers(t, saved.Bytes(), "app") {
		t.Error("the binary is not in the image")
	}

	if err := c.Remove(ctx, tag, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Inspect(ctx, tag); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("inspect after remove: %v", err)
	}
	if err := c.Remove(ctx, tag, false); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
	refs, err := c.Load(ctx, bytes.NewReader(saved.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0] != tag {
		t.Errorf("loaded %v", refs)
	}
	again, err := c.Inspect(ctx, tag)
	if err != nil || again.ID != id {
		t.Errorf("inspect after load: %+v %v", again, err)
	}
	other := strings.Replace(tag, ":1", ":2", 1)
	if err := c.Tag(ctx, tag, other); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, other, false); err != nil {
		t.Errorf("remove second tag: %v", err)
	}
}

func TestBuildFails(t *testing.T) {
	c := engine(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY missing-file /x\n"), 0o644)
	_, err := c.Build(context.Background(), BuildOptions{ContextDir: dir, Tags: []string{randomTag(t)}}, nil)
	if !errors.Is(err, errdefs.ErrDocker) || !strings.Contains(err.Error(), "missing-file") {
		t.Errorf("got %v", err)
	}
	_, err = c.Build(context.Background(), BuildOptions{ContextDir: dir, Dockerfile: "nope"}, nil)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile") {
		t.Errorf("missing Dockerfile: %v", err)
	}
	if _, err := c.Load(context.Background(), strings.NewReader("not a tar")); !errors.Is(err, errdefs.ErrDocker) {
		t.Errorf("loading garbage: %v", err)
	}
	if _, err := c.Save(context.Background(), "startos-test/does-not-exist:0"); err == nil {
		// Old engines report a missing image inside the stream.
		t.Log("save of a missing image did not fail up front")
	}
}

func TestDeadlines(t *testing.T) {
	c := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if _, err := c.Ping(ctx); !errors.Is(err, errdefs.ErrTimeout) {
		t.Errorf("ping past its deadline: %v", err)
	}
	short, err := Connect(context.Background(), Options{CallTimeout: time.Nanosecond})
	if err == nil {
		short.Close()
		t.Fatal("a 1ns call timeout still connected")
	}
	if !errors.Is(err, errdefs.ErrTimeout) {
		t.Errorf("got %v, want ErrTimeout", err)
	}
}

func tarIndex(t *testing.T, b []byte) (map[string]bool, []string) {
	t.Helper()
	names := map[string]bool{}
	var tags []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
		if h.Name == "manifest.json" {
			var m []struct{ RepoTags []string }
			data, _ := io.ReadAll(tr)
			if err := json.Unmarshal(data, &m); err != nil || len(m) != 1 {
				t.Fatalf("manifest.json: %v %s", err, data)
			}
			tags = m[0].RepoTags
		}
	}
	return names, tags
}

// inLayers reports whether any layer of a saved image holds a file named name.
func inLayers(t *testing.T, b []byte, name string) bool {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(h.Name, "layer.tar") && !strings.HasPrefix(h.Name, "blobs/") {
			continue
		}
		data, _ := io.ReadAll(tr)
		lr := tar.NewReader(bytes.NewReader(data))
		for {
			lh, err := lr.Next()
			if err != nil {
				break
			}
			if strings.TrimPrefix(lh.Name, "./") == name {
				return true
			}
		}
	}
}

// TestFirstCallsConcurrent: a client made without a ping settles the API
// version on first use; many first calls at once must agree on one version
// and, under -race, must not race on it (the Docker client's own lazy
// negotiation does).
func TestFirstCallsConcurrent(t *testing.T) {
	want := engine(t) // skips or fails without an engine, as the others
	info, err := want.Ping(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := c.ListContainers(ctx, "dev.startos.test-none=1")
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatalf("list containers: %v", err)
		}
	}
	if got := c.pinned.Load().ClientVersion(); versions.LessThan(info.APIVersion, got) {
		t.Fatalf("client settled on API %s; the engine speaks %s", got, info.APIVersion)
	}
}

// TestEnsureNetworkHealsDuplicates: two networks of one name (two creates
// that raced; API 1.41 lets them) made every use of the name fail as
// ambiguous. EnsureNetwork keeps one and removes the other.
func TestEnsureNetworkHealsDuplicates(t *testing.T) {
	c := engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "startos-test-dup-" + strings.TrimPrefix(strings.TrimSuffix(randomTag(t), ":1"), "startos-test/container-")
	raw := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", "/var/run/docker.sock")
	}}}
	for range 2 {
		body := strings.NewReader(`{"Name":"` + name + `","Driver":"bridge","CheckDuplicate":false}`)
		resp, err := raw.Post("http://docker/v1.41/networks/create", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Skipf("this engine refuses a duplicate network name (%d %s): nothing to heal", resp.StatusCode, b)
		}
	}
	t.Cleanup(func() { _ = c.RemoveNetwork(context.Background(), name) })
	if _, err := c.EnsureNetwork(ctx, name, nil); err != nil {
		t.Fatalf("EnsureNetwork over two of a name: %v", err)
	}
	list, err := c.engine(ctx).NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", "^"+name+"$"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d networks named %s remain, want 1", len(list), name)
	}
}
