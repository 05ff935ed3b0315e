package install

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/s9pk"
)

func TestSideloadInstall(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	path := e.pkg(testpkg.Options{ID: id, Version: "0.1.0", Assets: map[string]string{"index.html": "<h1>hi</h1>"}})

	// Watch the entry go through installing.
	_, sub, err := e.store.Subscribe("/public/packageData/"+id, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	e.mustSideload(path)
	if v := e.installedVersion(id); v != "0.1.0" {
		t.Errorf("installed version %s", v)
	}
	p, _ := e.entry(id)
	if p.StatusInfo.Desired.Main != model.DesiredRunning {
		t.Errorf("desired %+v, want running", p.StatusInfo.Desired)
	}
	if !strings.HasPrefix(p.DeveloperKey, "ed25519:") || !strings.HasPrefix(p.Icon, "/public/package-data/"+id+"/") || p.StaticFiles == nil || p.StaticFiles.Icon != p.Icon {
		t.Errorf("developer key %q, icon %.30q", p.DeveloperKey, p.Icon)
	}
	if p.S9pk != filepath.Join(e.dataDir, "packages", id+".s9pk") || p.StateInfo.InstallingInfo != nil {
		t.Errorf("s9pk %q, installingInfo %+v", p.S9pk, p.StateInfo.InstallingInfo)
	}
	if f, err := s9pk.OpenFile(p.S9pk, nil); err != nil {
		t.Errorf("archived package: %v", err)
	} else {
		f.Close()
	}
	if fi, err := os.Stat(filepath.Join(e.dataDir, "volumes", id, "main")); err != nil || !fi.IsDir() {
		t.Errorf("data volume: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(e.dataDir, "volumes", id, "static", "index.html")); string(b) != "<h1>hi</h1>" {
		t.Errorf("assets volume: %q %v", b, err)
	}
	if !e.imageExists(manifest.DockerTag(id, "main", manifest.MustParseVersion("0.1.0"))) {
		t.Error("image not loaded")
	}
	if calls := e.svc.Calls(); !slices.Equal(calls, []string{"adopt " + id}) {
		t.Errorf("service calls %v", calls)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dataDir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp not empty: %d entries", len(ents))
	}
	if _, _, err := e.in.Progress(id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("progress after the install: %v", err)
	}

	// The document went installing (with phases) -> installed.
	var states []model.PackageState
	var phases []string
	for sub.Len() > 0 {
		rev, err := sub.Recv(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range rev.Patch {
			switch {
			case op.Path == "" || strings.HasSuffix(op.Path, "/"+id):
				var pe model.PackageDataEntry
				if jsonUnmarshal(op.Value, &pe) == nil {
					states = append(states, pe.StateInfo.State)
					if pe.StateInfo.InstallingInfo != nil {
						for _, ph := range pe.StateInfo.InstallingInfo.Progress.Phases {
							phases = append(phases, ph.Name)
						}
					}
				}
			case strings.HasSuffix(op.Path, "/stateInfo"):
				var si model.StateInfo
				if jsonUnmarshal(op.Value, &si) == nil {
					states = append(states, si.State)
				}
			case strings.HasSuffix(op.Path, "/stateInfo/state"):
				var st model.PackageState
				jsonUnmarshal(op.Value, &st)
				states = append(states, st)
			}
		}
	}
	if len(states) < 2 || states[0] != model.PackageInstalling || states[len(states)-1] != model.PackageInstalled {
		t.Errorf("states seen %v", states)
	}
	if !slices.Equal(phases, []string{PhaseUploading, PhaseValidating, PhaseUnpacking, PhaseInstalling}) {
		t.Errorf("phases %v", phases)
	}

	// The same version again is refused and changes nothing.
	if err := e.sideload(path); !errors.Is(err, errdefs.ErrDuplicate) {
		t.Errorf("second install: %v", err)
	}
	if v := e.installedVersion(id); v != "0.1.0" {
		t.Errorf("after a refused reinstall: %s", v)
	}
	if _, err := os.Stat(p.S9pk); err != nil {
		t.Errorf("a refused reinstall touched the archive: %v", err)
	}
}

func TestUploadIDs(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.UploadTTL = 50 * time.Millisecond })
	if err := e.in.Receive(context.Background(), "nope", strings.NewReader("x"), 1); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	res, err := e.in.Sideload(context.Background())
	if err != nil || len(res.Upload) != 32 {
		t.Fatalf("sideload: %+v %v", res, err)
	}
	// First use consumes it, even when the body is no package.
	if err := e.in.Receive(context.Background(), res.Upload, strings.NewReader("not a package"), 13); !errors.Is(err, errdefs.ErrParseS9pk) {
		t.Errorf("garbage body: %v", err)
	}
	if err := e.in.Receive(context.Background(), res.Upload, strings.NewReader("x"), 1); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second use: %v", err)
	}
	res, _ = e.in.Sideload(context.Background())
	time.Sleep(80 * time.Millisecond)
	if err := e.in.Receive(context.Background(), res.Upload, strings.NewReader("x"), 1); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired id: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dataDir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp not empty after refused uploads")
	}
}

func TestInstallURL(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowLocalDownloads = true })
	id := testID()
	path := e.pkg(testpkg.Options{ID: id, Version: "0.1.0"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pkg.s9pk" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, path)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"ftp://127.0.0.1/x.s9pk", errdefs.ErrInvalidRequest},
		{"not a url", errdefs.ErrInvalidRequest},
		{srv.URL + "/missing.s9pk", errdefs.ErrNetwork},
	} {
		if err := e.in.InstallURL(context.Background(), tc.url); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.url, err, tc.want)
		}
	}
	if err := e.in.InstallURL(context.Background(), srv.URL+"/pkg.s9pk"); err != nil {
		t.Fatal(err)
	}
	if v := e.installedVersion(id); v != "0.1.0" {
		t.Errorf("version %s", v)
	}
}

// Each refusal names what is wrong and leaves the box as it was.
func TestRefusals(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name     string
		spec     testpkg.Options
		arch     string
		free     uint64
		want     error
		contains string
	}{
		{name: "wrong architecture", spec: testpkg.Options{Version: "0.1.0"}, arch: "aarch64", want: errdefs.ErrInstallFailed, contains: "no main image for x86_64 (it has images for: aarch64)"},
		{name: "missing dependency", spec: testpkg.Options{Version: "0.1.0", Requires: map[string]string{"bitcoind": ">=25.0.0"}}, want: errdefs.ErrDependency, contains: "bitcoind (>=25.0.0) is not installed"},
		{name: "not enough RAM", spec: testpkg.Options{Version: "0.1.0", RAM: 1 << 50}, want: errdefs.ErrInstallFailed, contains: "MiB of RAM"},
		{name: "not enough disk", spec: testpkg.Options{Version: "0.1.0"}, free: 1 << 20, want: errdefs.ErrInstallFailed, contains: "not enough disk space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.ID = testID()
			m, err := testpkg.NewManifest(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			image, err := e.b.Image(context.Background(), tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			e.cleanupImages(m)
			path := filepath.Join(t.TempDir(), "p.s9pk")
			if _, err := e.b.Archive(context.Background(), path, tc.spec, image, tc.arch); err != nil {
				t.Fatal(err)
			}
			if tc.free > 0 {
				e.in.free = func(string) (uint64, error) { return tc.free, nil }
				defer func() { e.in.free = statfsFree }()
			}
			err = e.sideload(path)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.contains)
			}
			e.assertPristine(m.ID, "0.1.0")
			e.wantFailureNotice("Install Failed", tc.contains)
		})
	}
}

func TestCorruptUpload(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	path := e.pkg(testpkg.Options{ID: id, Version: "0.1.0"})
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0x40 // inside the image
	res, _ := e.in.Sideload(context.Background())
	err := e.in.Receive(context.Background(), res.Upload, bytes.NewReader(b), int64(len(b)))
	if !errors.Is(err, errdefs.ErrParseS9pk) || !strings.Contains(err.Error(), "failed verification") {
		t.Fatalf("corrupt upload: %v", err)
	}
	e.assertPristine(id, "0.1.0")
	e.wantFailureNotice("Install Failed", "failed verification")

	// A truncated upload is refused too.
	res, _ = e.in.Sideload(context.Background())
	orig, _ := os.ReadFile(path)
	err = e.in.Receive(context.Background(), res.Upload, bytes.NewReader(orig[:len(orig)-10]), int64(len(orig)))
	if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "ended after") {
		t.Fatalf("truncated upload: %v", err)
	}
	e.assertPristine(id, "0.1.0")
}

func TestImageFailsToLoad(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	path := filepath.Join(t.TempDir(), "bad.s9pk")
	garbage := bytes.Repeat([]byte("this is not a docker image archive "), 1000)
	if _, err := e.b.Archive(context.Background(), path, testpkg.Options{ID: id, Version: "0.1.0"}, garbage, ""); err != nil {
		t.Fatal(err)
	}
	err := e.sideload(path)
	if !errors.Is(err, errdefs.ErrInstallFailed) || !strings.Contains(err.Error(), "loading image main") {
		t.Fatalf("got %v", err)
	}
	e.assertPristine(id, "0.1.0")
	e.wantFailureNotice("Install Failed", "loading image main")
	if calls := e.svc.Calls(); len(calls) != 0 {
		t.Errorf("services were called: %v", calls)
	}
}

func TestAdoptFails(t *testing.T) {
	e := newEnv(t, nil)
	e.svc.adoptErr = errors.New("entrypoint /app does not exist")
	id := testID()
	err := e.sideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	if !errors.Is(err, errdefs.ErrInstallFailed) || !strings.Contains(err.Error(), "entrypoint /app does not exist") {
		t.Fatalf("got %v", err)
	}
	e.assertPristine(id, "0.1.0")
	if calls := e.svc.Calls(); !slices.Equal(calls, []string{"adopt " + id, "release " + id}) {
		t.Errorf("service calls %v", calls)
	}
}

// A client that goes away during the upload leaves nothing behind.
func TestCancelUpload(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	b, _ := os.ReadFile(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		pw.Write(b[:len(b)/2])
		cancel()
		pw.CloseWithError(errors.New("client went away"))
	}()
	res, _ := e.in.Sideload(context.Background())
	err := e.in.Receive(ctx, res.Upload, pr, int64(len(b)))
	if !errors.Is(err, errdefs.ErrCancelled) && !errors.Is(err, errdefs.ErrNetwork) {
		t.Fatalf("got %v", err)
	}
	e.assertPristine(id, "0.1.0")
}

func TestUpdateWithMigration(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	state := filepath.Join(e.dataDir, "volumes", id, "main", "state.txt")
	if err := os.WriteFile(state, []byte("v1 data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.2.0", MigrationFrom: "<0.2.0"}))

	if v := e.installedVersion(id); v != "0.2.0" {
		t.Errorf("version %s", v)
	}
	if b, _ := os.ReadFile(state); string(b) != "v1 data\nmigrated from \"0.1.0\"\n" {
		t.Errorf("state.txt after the migration: %q", b)
	}
	if e.imageExists(manifest.DockerTag(id, "main", manifest.MustParseVersion("0.1.0"))) {
		t.Error("the old image is still in the engine")
	}
	if !e.imageExists(manifest.DockerTag(id, "main", manifest.MustParseVersion("0.2.0"))) {
		t.Error("the new image is not in the engine")
	}
	f, err := s9pk.OpenFile(filepath.Join(e.dataDir, "packages", id+".s9pk"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Manifest().Version.String(); v != "0.2.0" {
		t.Errorf("archive holds %s", v)
	}
	f.Close()
	want := []string{"adopt " + id, "release " + id, "run " + id + " migrate", "adopt " + id}
	if calls := e.svc.Calls(); !slices.Equal(calls, want) {
		t.Errorf("service calls %v, want %v", calls, want)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dataDir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp not empty: %d", len(ents))
	}
	// Downgrades are refused.
	if err := e.sideload(e.pkg(testpkg.Options{ID: id, Version: "0.0.9"})); !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "older") {
		t.Errorf("downgrade: %v", err)
	}
	if v := e.installedVersion(id); v != "0.2.0" {
		t.Errorf("version after a refused downgrade %s", v)
	}
}

// A failing migration puts the old version back with its data.
func TestFailedMigrationRollsBack(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	state := filepath.Join(e.dataDir, "volumes", id, "main", "state.txt")
	os.WriteFile(state, []byte("precious\n"), 0o644)

	// The migration first appends (the "migrate" mode), then a second
	// package fails: use a range that matches and the failing mode.
	err := e.sideload(e.pkg(testpkg.Options{ID: id, Version: "0.2.0", MigrationFrom: "*", MigrationMode: "fail"}))
	if !errors.Is(err, errdefs.ErrUpdateFailed) || !strings.Contains(err.Error(), "something went wrong") {
		t.Fatalf("got %v", err)
	}
	if v := e.installedVersion(id); v != "0.1.0" {
		t.Errorf("version after the failed update: %s", v)
	}
	if b, _ := os.ReadFile(state); string(b) != "precious\n" {
		t.Errorf("data after the failed update: %q", b)
	}
	if !e.imageExists(manifest.DockerTag(id, "main", manifest.MustParseVersion("0.1.0"))) {
		t.Error("the old image is gone")
	}
	if e.imageExists(manifest.DockerTag(id, "main", manifest.MustParseVersion("0.2.0"))) {
		t.Error("the new image is left in the engine")
	}
	f, err := s9pk.OpenFile(filepath.Join(e.dataDir, "packages", id+".s9pk"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Manifest().Version.String(); v != "0.1.0" {
		t.Errorf("archive holds %s", v)
	}
	f.Close()
	e.wantFailureNotice("Update Failed", "something went wrong")
	calls := e.svc.Calls()
	if len(calls) == 0 || calls[len(calls)-1] != "adopt "+id {
		t.Errorf("the old version was not adopted again: %v", calls)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dataDir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp not empty: %d", len(ents))
	}
}

// Cancel during an update (held in Release) puts the old version back; the
// progress stream shows the phases and ends with the cancel.
func TestCancelUpdate(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	os.WriteFile(filepath.Join(e.dataDir, "volumes", id, "main", "state.txt"), []byte("keep\n"), 0o644)
	path := e.pkg(testpkg.Options{ID: id, Version: "0.2.0", MigrationFrom: "*"})

	inRelease := make(chan struct{})
	e.svc.onRelease = func(ctx context.Context, _ string) error {
		close(inRelease)
		<-ctx.Done()
		return ctx.Err()
	}
	done := make(chan error, 1)
	go func() { done <- e.sideload(path) }()
	<-inRelease
	e.svc.mu.Lock()
	e.svc.onRelease = nil
	e.svc.mu.Unlock()

	fp, sub, err := e.in.Progress(id)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ph := range fp.Phases {
		names = append(names, ph.Name)
	}
	if !slices.Equal(names, []string{PhaseUploading, PhaseValidating, PhaseUnpacking, PhaseInstalling}) ||
		fp.Phases[0].Progress.Kind != model.ProgressComplete || fp.Phases[3].Progress.Kind == model.ProgressComplete {
		t.Errorf("progress %+v", fp)
	}
	p, _ := e.entry(id)
	if p.StateInfo.State != model.PackageUpdating || p.StateInfo.InstallingInfo == nil {
		t.Errorf("state during the update: %+v", p.StateInfo)
	}

	if err := e.in.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, errdefs.ErrCancelled) {
		t.Errorf("update result: %v", err)
	}
	for {
		_, err := sub.Recv(context.Background())
		if err != nil {
			if !errors.Is(err, errdefs.ErrCancelled) {
				t.Errorf("progress feed ended with %v", err)
			}
			break
		}
	}
	if v := e.installedVersion(id); v != "0.1.0" {
		t.Errorf("version after cancel %s", v)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dataDir, "volumes", id, "main", "state.txt")); string(b) != "keep\n" {
		t.Errorf("data after cancel %q", b)
	}
	if e.imageExists(manifest.DockerTag(id, "main", manifest.MustParseVersion("0.2.0"))) {
		t.Error("the new image is left")
	}
	if err := e.in.Cancel(context.Background(), id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("cancel with nothing running: %v", err)
	}
}

func TestUninstall(t *testing.T) {
	e := newEnv(t, nil)
	a, b := testID(), testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: a, Version: "1.0.0"}))
	e.mustSideload(e.pkg(testpkg.Options{ID: b, Version: "0.1.0", Requires: map[string]string{a: "^1.0.0"}}))

	err := e.in.Uninstall(context.Background(), a, false, false)
	if !errors.Is(err, errdefs.ErrDependency) || !strings.Contains(err.Error(), b) {
		t.Fatalf("uninstalling a required package: %v", err)
	}
	if v := e.installedVersion(a); v != "1.0.0" {
		t.Errorf("a refused uninstall changed %s: %s", a, v)
	}
	if err := e.in.Uninstall(context.Background(), "no-such-pkg", false, false); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown package: %v", err)
	}

	// Soft keeps the data volume; a reinstall finds it.
	os.WriteFile(filepath.Join(e.dataDir, "volumes", b, "main", "state.txt"), []byte("b data\n"), 0o644)
	if err := e.in.Uninstall(context.Background(), b, true, false); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.entry(b); ok {
		t.Error("soft uninstall left the entry")
	}
	if data, _ := os.ReadFile(filepath.Join(e.dataDir, "volumes", b, "main", "state.txt")); string(data) != "b data\n" {
		t.Errorf("soft uninstall lost the data: %q", data)
	}
	if e.imageExists(manifest.DockerTag(b, "main", manifest.MustParseVersion("0.1.0"))) {
		t.Error("soft uninstall left the image")
	}

	if err := e.in.Uninstall(context.Background(), a, false, false); err != nil {
		t.Fatal(err)
	}
	e.assertPristine(a, "1.0.0")
	calls := e.svc.Calls()
	if !slices.Contains(calls, "release "+a) || !slices.Contains(calls, "release "+b) {
		t.Errorf("service calls %v", calls)
	}
}

// A failed install of a package whose data a soft uninstall kept does not
// remove that data.
func TestFailedReinstallKeepsData(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	state := filepath.Join(e.dataDir, "volumes", id, "main", "state.txt")
	os.WriteFile(state, []byte("kept\n"), 0o644)
	if err := e.in.Uninstall(context.Background(), id, true, false); err != nil {
		t.Fatal(err)
	}
	e.svc.adoptErr = errors.New("no")
	if err := e.sideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"})); err == nil {
		t.Fatal("install succeeded")
	}
	if b, _ := os.ReadFile(state); string(b) != "kept\n" {
		t.Errorf("data after a failed reinstall: %q", b)
	}
}

func jsonUnmarshal(b []byte, v any) error { return jsonDecode(b, v) }
