package market_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/install"
	"github.com/startos-go/startos/startos/market"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/registry"
	"github.com/startos-go/startos/startos/s9pk"
)

// fakeInstaller records the URLs it was asked to install; the market's own
// checks (expiry, resolution) run before it.
type fakeInstaller struct {
	mu   sync.Mutex
	urls []string
}

func (f *fakeInstaller) InstallURL(_ context.Context, u string, _ ...install.InstallOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.urls = append(f.urls, u)
	return nil
}

func (f *fakeInstaller) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.urls)
}

// syntheticIndex signs an index offering id at the given versions, expiring
// at expires. Archives are never fetched (the installer is fake), so the
// commitment and developer signature only need the right shape.
func syntheticIndex(t *testing.T, key ed25519.PrivateKey, seq uint64, expires time.Time, id string, versions ...string) []byte {
	t.Helper()
	dev, err := s9pk.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	devKey := registry.EncodeKey(dev.Public().(ed25519.PublicKey))
	pkg := &registry.Package{Developers: []string{devKey}, Versions: map[string]*registry.Version{}}
	for _, vs := range versions {
		pkg.Versions[vs] = &registry.Version{ID: id, Version: vs, Title: "Hello " + vs, ReleaseNotes: "notes " + vs,
			Categories: []string{"testing"}, Arch: []string{"x86_64", "aarch64"}, Size: 1000,
			Commitment: s9pk.Commitment{RootSighash: [32]byte{1}, RootMaxSize: 1000}, DeveloperKey: devKey,
			Signature: base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize)),
			URL:       "packages/" + id + "/" + vs + "/" + id + ".s9pk", Icon: "packages/" + id + "/" + vs + "/icon.png"}
	}
	data, err := registry.Sign(key, &registry.Index{Name: "Synthetic", Sequence: seq, IssuedAt: expires.Add(-48 * time.Hour),
		Expires: expires, Packages: map[string]*registry.Package{id: pkg}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestExpiredCachedIndex: an index that was current when fetched and
// expired while cached (the registry stopped re-signing, or a host freezes
// the box on it) is not trusted for installs, updates on offer or
// registry.package.*; search still lists it, marked stale; a refresh that
// brings a current index makes it usable again.
func TestExpiredCachedIndex(t *testing.T) {
	ctx := context.Background()
	key, err := s9pk.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var offset atomic.Int64 // the fake clock's advance over the real one
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	var index atomic.Pointer[[]byte]
	first := syntheticIndex(t, key, 1, start.Add(24*time.Hour), "hello", "1.0.0", "1.1.0")
	index.Store(&first)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+registry.IndexFile {
			http.NotFound(w, r)
			return
		}
		w.Write(*index.Load())
	}))
	defer srv.Close()

	dir := t.TempDir()
	store, err := db.Open(ctx, db.Options{Path: filepath.Join(dir, "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// hello 1.0.0 is installed, so 1.1.0 is an update on offer.
	mf, err := testpkg.NewManifest(testpkg.Options{ID: "hello", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	archived, err := mf.MarshalArchived()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Mutate(ctx, func(d *model.Document) error {
		e := model.PackageDataEntry{}
		e.StateInfo.State, e.StateInfo.Manifest = model.PackageInstalled, archived
		d.Public.PackageData = map[string]model.PackageDataEntry{"hello": e}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	inst := &fakeInstaller{}
	m, err := market.New(ctx, market.Options{Store: store, DataDir: dir, Installer: inst, AllowLocal: true,
		RefreshEvery: -1, Now: now, Platform: registry.Platform{Arch: "x86_64"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Add(ctx, model.RegistryAddParams{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	offered := func() *model.UpdateAvailable {
		_, doc := store.Read()
		return doc.Public.PackageData["hello"].UpdateAvailable
	}
	if u := offered(); u == nil || u.Version != "1.1.0" {
		t.Fatalf("updateAvailable with a current index = %+v, want 1.1.0", u)
	}
	if found, _ := m.Search(model.PackageSearchParams{Query: "hello"}); len(found) != 1 || found[0].Stale {
		t.Fatalf("search with a current index = %+v", found)
	}

	// Two days on, the cached index has expired; the registry still serves
	// it (a freeze), so the refresh fails and the cache stays.
	offset.Store(int64(48 * time.Hour))
	if err := m.Refresh(ctx, ""); !errors.Is(err, registry.ErrExpired) {
		t.Fatalf("refresh of a frozen registry: %v, want ErrExpired", err)
	}
	if list := m.List(); len(list) != 1 || !list[0].Expired || list[0].LastError == "" {
		t.Errorf("registry.list after expiry = %+v, want expired with the refresh error", list)
	}
	found, err := m.Search(model.PackageSearchParams{Query: "hello"})
	if err != nil || len(found) != 1 || !found[0].Stale {
		t.Errorf("search over an expired index = %+v, %v; want the package marked stale", found, err)
	}
	if u := offered(); u != nil {
		t.Errorf("updateAvailable from an expired index = %+v, want none", u)
	}
	refusals := []struct {
		name string
		call func() error
	}{
		{"install", func() error { return m.Install(ctx, model.InstallParams{ID: "hello"}) }},
		{"update", func() error { return m.Update(ctx, model.PackageUpdateParams{ID: "hello"}) }},
		{"registry.package.get", func() error { _, err := m.PackageGet(model.RegistryPackageGetParams{ID: "hello"}); return err }},
		{"registry.package.index", func() error { _, err := m.PackageIndex(model.RegistryIndexParams{}); return err }},
		{"marketplace.get", func() error {
			_, err := m.MarketplaceGet(model.MarketplaceGetParams{URL: srv.URL + "/package/v0/latest?ids=[\"hello\"]"})
			return err
		}},
	}
	for _, r := range refusals {
		if err := r.call(); !errors.Is(err, registry.ErrExpired) {
			t.Errorf("%s from an expired index: %v, want ErrExpired", r.name, err)
		}
	}
	if n := inst.calls(); n != 0 {
		t.Fatalf("the installer was called %d times from an expired index", n)
	}

	// The registry re-signs: current again, installable, offered.
	fresh := syntheticIndex(t, key, 2, now().Add(24*time.Hour), "hello", "1.0.0", "1.1.0")
	index.Store(&fresh)
	if err := m.Refresh(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if u := offered(); u == nil || u.Version != "1.1.0" {
		t.Errorf("updateAvailable after a current index = %+v", u)
	}
	if err := m.Update(ctx, model.PackageUpdateParams{ID: "hello"}); err != nil || inst.calls() != 1 {
		t.Errorf("update from a current index: %v (installer calls %d)", err, inst.calls())
	}
}
