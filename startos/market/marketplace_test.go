package market_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/market"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/registry"
	"github.com/startos-go/startos/startos/s9pk"
)

// TestMarketplaceGet drives StartOS 0.3's marketplace.get against a
// registry on loopback: each route it answers from the verified index, and
// each URL it must refuse without fetching anything (the server counts the
// requests it gets).
func TestMarketplaceGet(t *testing.T) {
	ctx := context.Background()
	key, err := s9pk.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	data := syntheticIndex(t, key, 1, time.Now().Add(24*time.Hour), "hello", "1.0.0", "1.1.0", "2.0.0")
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/reg/"+registry.IndexFile {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	dir := t.TempDir()
	store, err := db.Open(ctx, db.Options{Path: filepath.Join(dir, "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := market.New(ctx, market.Options{Store: store, DataDir: dir, Installer: &fakeInstaller{}, AllowLocal: true,
		RefreshEvery: -1, Platform: registry.Platform{Arch: "x86_64"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	reg := srv.URL + "/reg"
	if _, err := m.Add(ctx, model.RegistryAddParams{URL: reg}); err != nil {
		t.Fatal(err)
	}
	fetched := requests.Load()
	get := func(path string) (string, error) {
		out, err := m.MarketplaceGet(model.MarketplaceGetParams{URL: path})
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(out)
		return string(b), err
	}
	ok := []struct{ path, want string }{
		{reg + "/package/v0/info", `{"name":"Synthetic","categories":["testing"]}`},
		{reg + "/package/v0/latest?ids=" + url.QueryEscape(`["hello","absent"]`), `{"absent":null,"hello":"2.0.0"}`},
		{reg + "/package/v0/version/hello?spec=" + url.QueryEscape("<2.0.0"), `{"version":"1.1.0"}`},
		{reg + "/package/v0/version/hello?spec=" + url.QueryEscape(">=1.0.0") + "&version-priority=min", `{"version":"1.0.0"}`},
		{reg + "/package/v0/release-notes/hello", `{"1.0.0":"notes 1.0.0","1.1.0":"notes 1.1.0","2.0.0":"notes 2.0.0"}`},
		{reg + "/package/v0/manifest/hello", `{"id":"hello","title":"Hello 2.0.0","version":"2.0.0","description":{"short":"","long":""},"release-notes":"notes 2.0.0"}`},
		{reg + "/package/v0/index?category=nothing", `[]`},
		{reg + "/package/v0/index?page=2", `[]`},
	}
	for _, c := range ok {
		got, err := get(c.path)
		if err != nil || got != c.want {
			t.Errorf("marketplace.get %s = %s, %v; want %s", c.path, got, err, c.want)
		}
	}
	idx, err := m.MarketplaceGet(model.MarketplaceGetParams{URL: reg + "/package/v0/index?query=hello&category=testing"})
	if err != nil {
		t.Fatal(err)
	}
	if list := idx.([]model.MarketplacePkg); len(list) != 1 || list[0].Manifest.Version != "2.0.0" ||
		strings.Join(list[0].Versions, ",") != "2.0.0,1.1.0,1.0.0" || list[0].Icon != reg+"/packages/hello/2.0.0/icon.png" {
		t.Errorf("package/v0/index = %+v", list)
	}

	refused := []struct {
		path string
		want error
		says string
	}{
		{"http://127.0.0.1:1/package/v0/info", errdefs.ErrInvalidRequest, "never fetches"},
		{srv.URL + "/other/package/v0/info", errdefs.ErrInvalidRequest, "not under a configured registry"},
		{reg + "/package/v0/icon/hello", market.ErrMarketplaceRoute, "holds no icon"},
		{reg + "/package/v0/license/hello", market.ErrMarketplaceRoute, "holds no license"},
		{reg + "/package/v0/instructions/hello", market.ErrMarketplaceRoute, "holds no instructions"},
		{reg + "/package/v0/hello.s9pk", market.ErrMarketplaceRoute, "package.install"},
		{reg + "/eos/v0/latest", market.ErrMarketplaceRoute, "OS updates"},
		{reg + "/package/v0/nonsense", market.ErrMarketplaceRoute, "no route"},
		{reg + "/package/v0/version/absent", errdefs.ErrNotFound, "no package"},
		{reg + "/package/v0/version/hello?spec=" + url.QueryEscape(">9.0.0"), errdefs.ErrNotFound, "no version"},
		{reg + "/package/v0/version/hello?version-priority=median", errdefs.ErrInvalidRequest, "want min or max"},
		{reg + "/package/v0/release-notes/..%2F..%2Fetc", errdefs.ErrInvalidRequest, "not valid"},
		{reg + "/package/v0/latest", errdefs.ErrInvalidRequest, "JSON array"},
		{reg + "/package/v0/latest?ids=hello", errdefs.ErrInvalidRequest, "JSON array"},
		{reg + "/package/v0/index?per-page=100000", errdefs.ErrInvalidRequest, "per-page"},
		{"file:///etc/passwd", errdefs.ErrInvalidRequest, "http(s)"},
		{"http://user:pw@" + strings.TrimPrefix(reg, "http://") + "/package/v0/info", errdefs.ErrInvalidRequest, "http(s)"},
	}
	for _, c := range refused {
		_, err := m.MarketplaceGet(model.MarketplaceGetParams{URL: c.path})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("marketplace.get %s: %v; want %v saying %q", c.path, err, c.want, c.says)
		}
	}
	if n := requests.Load(); n != fetched {
		t.Errorf("marketplace.get made %d requests; it must answer from the cache", n-fetched)
	}
}
