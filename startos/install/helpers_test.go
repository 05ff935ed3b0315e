package install

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

var (
	buildOnce sync.Once
	buildDir  string
	builder   *testpkg.Builder
	buildErr  error
	buildEng  *container.Client
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if buildEng != nil {
		buildEng.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func getBuilder(t *testing.T, eng *container.Client) *testpkg.Builder {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "installtest-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if buildEng, buildErr = container.Connect(ctx, container.Options{}); buildErr == nil {
			builder, buildErr = testpkg.NewBuilder(buildEng)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builder
}

// services is the test's service manager: it records Adopt and Release and
// runs procedures as real one-off containers.
type services struct {
	eng     *container.Client
	dataDir string

	mu        sync.Mutex
	calls     []string
	adoptErr  error
	onRelease func(ctx context.Context, id string) error
	afterRun  func(id string) // runs after each procedure
}

func (s *services) record(c string) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

func (s *services) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *services) Adopt(ctx context.Context, id string) error {
	s.record("adopt " + id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adoptErr
}

func (s *services) Release(ctx context.Context, id string) error {
	s.record("release " + id)
	s.mu.Lock()
	hook := s.onRelease
	s.mu.Unlock()
	if hook != nil {
		return hook(ctx, id)
	}
	return nil
}

func (s *services) RunProcedure(ctx context.Context, id string, mf *manifest.Manifest, p manifest.Procedure, input any) ([]byte, error) {
	s.record("run " + id + " " + strings.Join(p.Args, " "))
	stdin, err := json.Marshal(input)
	if err != nil {
		return nil, err
	}
	var mounts []container.Mount
	for vol, target := range p.Mounts {
		mounts = append(mounts, container.Mount{Source: filepath.Join(s.dataDir, "volumes", id, vol), Target: target})
	}
	res, err := s.eng.Run(ctx, container.RunOptions{
		Spec: container.Spec{
			Name: "startos-installtest-" + randHex(4), Image: manifest.DockerTag(id, p.Image, mf.Version),
			Entrypoint: []string{p.Entrypoint}, Cmd: p.Args, Network: "none", Mounts: mounts,
			Labels: map[string]string{"dev.startos.package": id},
		},
		Stdin: stdin, Timeout: 60 * time.Second,
	})
	s.mu.Lock()
	after := s.afterRun
	s.mu.Unlock()
	if after != nil {
		after(id)
	}
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("procedure exited with %d: %s: %w", res.ExitCode, strings.TrimSpace(string(res.Stderr)), errdefs.ErrAction)
	}
	return res.Stdout, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// env is one box: a data dir, a state document, the engine, an installer.
type env struct {
	t       *testing.T
	eng     *container.Client
	b       *testpkg.Builder
	store   *db.Store
	dataDir string
	svc     *services
	in      *Installer
	opts    Options
}

func newEnv(t *testing.T, tweak func(*Options)) *env {
	t.Helper()
	eng := testpkg.Engine(t)
	e := &env{t: t, eng: eng, b: getBuilder(t, eng), dataDir: t.TempDir()}
	os.MkdirAll(filepath.Join(e.dataDir, "db"), 0o755)
	st, err := db.Open(context.Background(), db.Options{Path: filepath.Join(e.dataDir, "db", "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	e.svc = &services{eng: eng, dataDir: e.dataDir}
	e.opts = Options{Store: st, Engine: eng, Services: e.svc, DataDir: e.dataDir, Arch: "x86_64"}
	if tweak != nil {
		tweak(&e.opts)
	}
	e.in, err = New(context.Background(), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.in.Close()
		e.store.Close()
	})
	return e
}

// reopen closes the installer and opens a new one on the same box, as a
// daemon restart does.
func (e *env) reopen() {
	e.t.Helper()
	e.in.Close()
	in, err := New(context.Background(), e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.in = in
}

// pkg writes a package file and returns its path. Its images are removed
// from the engine at the end of the test.
func (e *env) pkg(s testpkg.Options) string {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), s.ID+"-"+s.Version+".s9pk")
	m, err := e.b.Archive(context.Background(), p, s, nil, "")
	if err != nil {
		e.t.Fatal(err)
	}
	e.cleanupImages(m)
	return p
}

func (e *env) cleanupImages(m *manifest.Manifest) {
	tag := manifest.DockerTag(m.ID, manifest.MainImage, m.Version)
	e.t.Cleanup(func() { e.eng.Remove(context.Background(), tag, true) })
}

// sideload sends the file at path through Sideload and Receive.
func (e *env) sideload(path string) error {
	e.t.Helper()
	res, err := e.in.Sideload(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.in.Receive(context.Background(), res.Upload, bytes.NewReader(b), int64(len(b)))
}

func (e *env) mustSideload(path string) {
	e.t.Helper()
	if err := e.sideload(path); err != nil {
		e.t.Fatalf("sideload %s: %v", filepath.Base(path), err)
	}
}

func (e *env) entry(id string) (model.PackageDataEntry, bool) {
	_, doc := e.store.Read()
	p, ok := doc.Public.PackageData[id]
	return p, ok
}

func (e *env) installedVersion(id string) string {
	e.t.Helper()
	p, ok := e.entry(id)
	if !ok {
		e.t.Fatalf("package %s has no entry", id)
	}
	if p.StateInfo.State != model.PackageInstalled {
		e.t.Fatalf("package %s is %s, want installed", id, p.StateInfo.State)
	}
	m, _, err := manifest.ParseArchived(p.StateInfo.Manifest)
	if err != nil {
		e.t.Fatal(err)
	}
	return m.Version.String()
}

func (e *env) imageExists(tag string) bool {
	_, err := e.eng.Inspect(context.Background(), tag)
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// assertPristine checks that nothing of package id is left on the box.
func (e *env) assertPristine(id, version string) {
	e.t.Helper()
	if p, ok := e.entry(id); ok {
		e.t.Errorf("package %s still has an entry: %+v", id, p.StateInfo)
	}
	if _, err := os.Stat(filepath.Join(e.dataDir, "packages", id+".s9pk")); !os.IsNotExist(err) {
		e.t.Errorf("archive of %s left: %v", id, err)
	}
	if _, err := os.Stat(filepath.Join(e.dataDir, "volumes", id)); !os.IsNotExist(err) {
		e.t.Errorf("volumes of %s left: %v", id, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dataDir, "tmp")); len(ents) > 0 {
		var names []string
		for _, d := range ents {
			names = append(names, d.Name())
		}
		e.t.Errorf("tmp not empty: %v", names)
	}
	if version != "" && e.imageExists(manifest.DockerTag(id, manifest.MainImage, manifest.MustParseVersion(version))) {
		e.t.Errorf("image of %s %s left in the engine", id, version)
	}
}

// lastNotification returns the newest notification.
func (e *env) lastNotification() (model.Notification, bool) {
	_, doc := e.store.Read()
	var best model.Notification
	found := false
	for _, n := range doc.Private.Notifications {
		if !found || n.ID > best.ID {
			best, found = n, true
		}
	}
	return best, found
}

func (e *env) wantFailureNotice(title, contains string) {
	e.t.Helper()
	n, ok := e.lastNotification()
	if !ok {
		e.t.Fatalf("no notification, want %q", title)
	}
	if n.Title != title || n.Level != model.NotificationError || !strings.Contains(n.Message, contains) {
		e.t.Errorf("notification %q (%s): %q; want %q containing %q", n.Title, n.Level, n.Message, title, contains)
	}
}

func testID() string { return "itest-" + randHex(4) }
