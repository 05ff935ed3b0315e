package market_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/registry"
	"github.com/startos-go/startos/startos/s9pk"
)

// sdk builds start-sdk once per test process.
var (
	sdkOnce sync.Once
	sdkBin  string
	sdkErr  error
)

func startSDK(t *testing.T, home string, args ...string) string {
	t.Helper()
	sdkOnce.Do(func() {
		dir, err := os.MkdirTemp("", "startos-sdk-bin-")
		if err != nil {
			sdkErr = err
			return
		}
		sdkBin = filepath.Join(dir, "start-sdk")
		out, err := exec.Command("go", "build", "-o", sdkBin, "github.com/startos-go/startos/frontends/sdk").CombinedOutput()
		if err != nil {
			sdkErr = fmt.Errorf("building start-sdk: %v\n%s", err, out)
		}
	})
	if sdkErr != nil {
		t.Fatal(sdkErr)
	}
	cmd := exec.Command(sdkBin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "STARTOS_REGISTRY_KEY_PATH=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("start-sdk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// server serves the registry folder on loopback, with fault routes: a
// path in faults answers with that handler instead.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	faults map[string]http.HandlerFunc
}

func newServer(t *testing.T, dir string) *server {
	s := &server{faults: map[string]http.HandlerFunc{}}
	files := http.FileServer(http.Dir(dir))
	release := make(chan struct{})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		f := s.faults[r.URL.Path]
		s.mu.Unlock()
		if f != nil {
			f(w, r)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(release); s.Close() })
	s.fault("/stall-marker", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	return s
}

func (s *server) fault(path string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h == nil {
		delete(s.faults, path)
	} else {
		s.faults[path] = h
	}
}

func (s *server) stall(path string) {
	marker := s.faults["/stall-marker"]
	s.fault(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Write(make([]byte, 100))
		w.(http.Flusher).Flush()
		marker(w, r)
	})
}

func serveBytes(b []byte, announce int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(announce))
		w.Write(b)
	}
}

func installed(t *testing.T, lib *startos.Server, id string) string {
	t.Helper()
	v, err := lib.InstalledVersion(context.Background(), model.PackageIDParams{ID: id})
	if err != nil || v == nil {
		return ""
	}
	return *v
}

func updateAvailable(lib *startos.Server, id string) *model.UpdateAvailable {
	_, doc := lib.DB().Read()
	return doc.Public.PackageData[id].UpdateAvailable
}

func updateNotifications(t *testing.T, lib *startos.Server, id string) []string {
	t.Helper()
	list, err := lib.Notifications(context.Background(), model.NotificationListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range list {
		if n.Title == "Update Available" && n.PackageID == id {
			out = append(out, n.Message)
		}
	}
	return out
}

// TestRegistryEndToEnd publishes real packages with start-sdk into a folder
// served on loopback, and drives a real box (library, installer, Docker
// Engine) through add, search, install by range, an update offered and
// applied with a migration, and every refusal.
func TestRegistryEndToEnd(t *testing.T) {
	eng := testpkg.Engine(t)
	ctx := context.Background()
	home := t.TempDir()
	www := filepath.Join(home, "www")
	id := testpkg.RandomID()
	pkgs := map[string]string{}
	for _, o := range []testpkg.Options{
		{ID: id, Version: "0.1.0"},
		{ID: id, Version: "0.2.0", MigrationFrom: "<0.2.0"},
		{ID: id, Version: "0.3.0", MigrationFrom: "<0.3.0"},
	} {
		p := testpkg.Build(t, eng, o)
		path := filepath.Join(home, id+"-"+o.Version+".s9pk")
		p.WriteArchive(t, path)
		pkgs[o.Version] = path
	}
	out := startSDK(t, home, "index", "init", www, "--name", "Test registry")
	fp := strings.TrimSpace(strings.Split(strings.Split(out, "fingerprint: ")[1], "\n")[0])
	startSDK(t, home, "publish", pkgs["0.1.0"], "--index", www, "--category", "testing")
	startSDK(t, home, "publish", pkgs["0.2.0"], "--index", www, "--category", "testing")
	srv := newServer(t, www)

	dataDir := t.TempDir()
	lib, err := startos.Open(ctx, startos.Config{DataDir: dataDir, Stderr: io.Discard, PasswordParams: &auth.Params{Memory: 1024, Time: 1, Threads: 1},
		AllowLocalDownloads: true, RegistryRefresh: -1, RegistryStallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()

	// A wrong fingerprint is refused; the right one (and TOFU) pins.
	if _, err := lib.RegistryAdd(ctx, model.RegistryAddParams{URL: srv.URL, Fingerprint: "SHA256:AAAA"}); !errors.Is(err, registry.ErrWrongKey) {
		t.Fatalf("add with a wrong fingerprint: %v", err)
	}
	res, err := lib.RegistryAdd(ctx, model.RegistryAddParams{URL: srv.URL, Fingerprint: fp})
	if err != nil || res.Fingerprint != fp {
		t.Fatalf("add = %v, %v; want %s", res, err, fp)
	}
	if list, _ := lib.RegistryList(ctx, model.Empty{}); len(list) != 1 || list[0].Fingerprint != fp || list[0].Packages != 1 || list[0].Sequence != 3 {
		t.Fatalf("registry.list = %+v", list)
	}

	// Search.
	found, err := lib.PackageSearch(ctx, model.PackageSearchParams{Query: id[len(id)-4:], Category: "testing"})
	if err != nil || len(found) != 1 || found[0].Version != "0.2.0" || !found[0].Runs {
		t.Fatalf("search = %+v, %v", found, err)
	}
	if got, _ := lib.RegistryPackageGet(ctx, model.RegistryPackageGetParams{ID: id, TargetVersion: "<0.2.0", OtherVersions: "short"}); got.Best["0.1.0"].Title == "" || got.OtherVersions["0.2.0"] == nil {
		t.Errorf("registry.package.get = %+v", got)
	}

	// Install by id and range: 0.1.0, not the newest.
	if _, err := lib.InstallURL(ctx, model.InstallParams{ID: id, Version: "^0.1.0"}); err != nil {
		t.Fatal(err)
	}
	if v := installed(t, lib, id); v != "0.1.0" {
		t.Fatalf("installed %q, want 0.1.0", v)
	}
	_, doc := lib.DB().Read()
	if r := doc.Public.PackageData[id].Registry; r == nil || *r != srv.URL {
		t.Errorf("packageData.registry = %v", r)
	}
	if u := updateAvailable(lib, id); u == nil || u.Version != "0.2.0" {
		t.Fatalf("updateAvailable after installing 0.1.0 = %+v, want 0.2.0", u)
	}

	// A new version published: offered once refreshed, one notification per version.
	startSDK(t, home, "publish", pkgs["0.3.0"], "--index", www)
	for range 2 {
		if _, err := lib.RegistryRefresh(ctx, model.RegistryRefreshParams{}); err != nil {
			t.Fatal(err)
		}
	}
	if u := updateAvailable(lib, id); u == nil || u.Version != "0.3.0" {
		t.Fatalf("updateAvailable after publishing 0.3.0 = %+v", u)
	}
	if n := updateNotifications(t, lib, id); len(n) != 2 || !strings.Contains(n[0]+n[1], "0.3.0") || !strings.Contains(n[0]+n[1], "0.2.0") {
		t.Errorf("update notifications = %q, want one for 0.2.0 and one for 0.3.0", n)
	}
	if ups, _ := lib.PackageUpdates(ctx, model.Empty{}); len(ups) != 1 || ups[0].Installed != "0.1.0" || ups[0].Version != "0.3.0" {
		t.Errorf("package.updates = %+v", ups)
	}

	// Bad inputs: each refused, nothing changes.
	saved, err := os.ReadFile(filepath.Join(www, registry.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	regKey, err := registry.LoadOrCreateKey(filepath.Join(home, ".startos", "registry.key.pem"), false)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := registry.Verify(saved, registry.VerifyOptions{Key: regKey.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	v3 := *ver.Packages[id].Versions["0.3.0"]
	resign := func(key ed25519.PrivateKey, edit func(*registry.Index)) []byte {
		again, err := registry.Verify(saved, registry.VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		edit(again.Index)
		data, err := registry.Sign(key, again.Index)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	otherReg, _ := s9pk.GenerateKey()
	otherDev, _ := s9pk.GenerateKey()
	olderIndex := resign(regKey, func(i *registry.Index) { i.Sequence = 1 })
	indexPath := "/" + registry.IndexFile
	refreshCases := []struct {
		name  string
		index []byte
		want  error
	}{
		{"signed by another key", resign(otherReg, func(i *registry.Index) { i.Sequence += 5 }), registry.ErrWrongKey},
		{"rollback to an older sequence", olderIndex, registry.ErrRollback},
		{"expired", resign(regKey, func(i *registry.Index) { i.Sequence += 5; i.Expires = time.Now().Add(-time.Minute) }), registry.ErrExpired},
		{"malformed JSON", []byte(`{"format":1,"key":`), registry.ErrMalformed},
		{"oversized", make([]byte, registry.MaxIndexSize+10), registry.ErrTooLarge},
	}
	for _, c := range refreshCases {
		t.Run("refresh/"+c.name, func(t *testing.T) {
			srv.fault(indexPath, serveBytes(c.index, len(c.index)))
			defer srv.fault(indexPath, nil)
			_, err := lib.RegistryRefresh(ctx, model.RegistryRefreshParams{URL: srv.URL})
			if !errors.Is(err, c.want) {
				t.Fatalf("refresh: %v, want %v", err, c.want)
			}
			list, _ := lib.RegistryList(ctx, model.Empty{})
			if list[0].Sequence != ver.Sequence || list[0].Fingerprint != fp || list[0].LastError == "" {
				t.Errorf("after a refused refresh: %+v (want sequence %d kept and the error recorded)", list[0], ver.Sequence)
			}
		})
	}
	if _, err := lib.RegistryRefresh(ctx, model.RegistryRefreshParams{}); err != nil {
		t.Fatal(err)
	}

	archivePath := "/" + v3.URL
	a2, _ := os.ReadFile(pkgs["0.2.0"])
	a3, _ := os.ReadFile(pkgs["0.3.0"])
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(a3) }))
	defer other.Close()
	installCases := []struct {
		name  string
		serve http.HandlerFunc
		index []byte // replaces the index first, when set
		want  string
	}{
		{"archive differs from the index", serveBytes(a2, len(a2)), nil, "merkle root differs"},
		{"redirect off the registry host", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/x.s9pk", http.StatusFound)
		}, nil, "leaves the registry's host"},
		{"truncated", serveBytes(a3[:len(a3)/2], len(a3)), nil, "after"},
		{"oversized", serveBytes(append(append([]byte{}, a3...), make([]byte, 1000)...), len(a3)+1000), nil, "longer than"},
		{"stalled", nil, nil, "stalled"},
		{"developer not trusted for the id", nil, resign(regKey, func(i *registry.Index) {
			i.Sequence += 10
			i.Packages[id].Developers = []string{registry.EncodeKey(otherDev.Public().(ed25519.PublicKey))}
			for _, v := range i.Packages[id].Versions {
				v.DeveloperKey = i.Packages[id].Developers[0]
			}
		}), "does not trust"},
	}
	for _, c := range installCases {
		t.Run("install/"+c.name, func(t *testing.T) {
			if c.index != nil {
				srv.fault(indexPath, serveBytes(c.index, len(c.index)))
				if _, err := lib.RegistryRefresh(ctx, model.RegistryRefreshParams{}); err != nil {
					t.Fatal(err)
				}
			}
			if c.name == "stalled" {
				srv.stall(archivePath)
			} else if c.serve != nil {
				srv.fault(archivePath, c.serve)
			}
			defer srv.fault(archivePath, nil)
			_, err := lib.PackageUpdate(ctx, model.PackageUpdateParams{ID: id})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("update: %v, want an error saying %q", err, c.want)
			}
			if v := installed(t, lib, id); v != "0.1.0" {
				t.Errorf("after a refused update the installed version is %q", v)
			}
		})
	}
	// The registry re-signs its real index with a higher sequence than any above.
	startSDK(t, home, "index", "sign", www)
	for range 11 {
		startSDK(t, home, "index", "sign", www)
	}
	srv.fault(indexPath, nil)
	if _, err := lib.RegistryRefresh(ctx, model.RegistryRefreshParams{}); err != nil {
		t.Fatal(err)
	}

	// Never a downgrade: an update to a range below the installed version.
	if _, err := lib.PackageUpdate(ctx, model.PackageUpdateParams{ID: id, Version: "<0.1.0"}); err == nil {
		t.Error("an update to <0.1.0 was accepted")
	}

	// The update applied, with its migration.
	state := filepath.Join(dataDir, "volumes", id, "main", "state.txt")
	if err := os.WriteFile(state, []byte("v1 data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.PackageUpdate(ctx, model.PackageUpdateParams{ID: id}); err != nil {
		t.Fatal(err)
	}
	if v := installed(t, lib, id); v != "0.3.0" {
		t.Fatalf("installed %q after the update, want 0.3.0", v)
	}
	if b, _ := os.ReadFile(state); string(b) != "v1 data\nmigrated from \"0.1.0\"\n" {
		t.Errorf("state.txt after the migration: %q", b)
	}
	if u := updateAvailable(lib, id); u != nil {
		t.Errorf("updateAvailable after updating to the newest = %+v", u)
	}
	if _, err := lib.PackageUpdate(ctx, model.PackageUpdateParams{ID: id}); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Errorf("update with nothing newer: %v", err)
	}
}
