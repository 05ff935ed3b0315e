package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/model"
)

// startSDK runs a freshly built start-sdk with HOME at home (its registry
// key lives there).
func startSDK(t *testing.T, home string, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "start-sdk")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/startos-go/startos/frontends/sdk").CombinedOutput(); err != nil {
		t.Fatalf("building start-sdk: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "STARTOS_REGISTRY_KEY_PATH=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("start-sdk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBrowserMarketplace drives the marketplace screen of a real startd in a
// real browser against a registry on loopback whose index start-sdk
// published from a real package: add the registry (its fingerprint shown),
// search, open the details (release notes), install with the live phased
// progress, and the package is installed in the state document.
func TestBrowserMarketplace(t *testing.T) {
	eng := testpkg.Engine(t)
	pkg := testpkg.Build(t, eng, testpkg.Options{Version: "0.1.0"})
	id := pkg.Manifest.ID
	home := t.TempDir()
	archive := filepath.Join(home, id+".s9pk")
	pkg.WriteArchive(t, archive)
	next := testpkg.Build(t, eng, testpkg.Options{ID: id, Version: "0.2.0", MigrationFrom: "<0.2.0"})
	archive2 := filepath.Join(home, id+"-0.2.0.s9pk")
	next.WriteArchive(t, archive2)
	www := filepath.Join(home, "www")
	out := startSDK(t, home, "index", "init", www, "--name", "Loopback registry")
	fp := strings.TrimSpace(strings.Split(strings.Split(out, "fingerprint: ")[1], "\n")[0])
	startSDK(t, home, "publish", archive, "--index", www, "--category", "testing")
	reg := httptest.NewServer(http.FileServer(http.Dir(www)))
	defer reg.Close()

	bin := testdaemon.BuildStartd(t)
	proc := testdaemon.RunStartd(t, bin, t.TempDir(), "--allow-local-downloads")
	ctx := context.Background()
	local := ownedBox(t, ctx, proc.Sock, "Market Box")

	p := loggedIn(t, proc.HTTP)

	// No registry yet; add the loopback one without a fingerprint: the key
	// it is pinned to is shown, and it is the one start-sdk made.
	p.goTo("#/marketplace")
	p.wait("empty marketplace", 30*time.Second, `!!document.querySelector('#market-empty')`)
	p.typeInto("#registry-url", reg.URL)
	p.click(`#registry-add button[type=submit]`)
	p.wait("registry added", 60*time.Second, `!!document.querySelector('#registry-added') || document.querySelector('#registries > .error').textContent !== ''`)
	if e := p.text("#registries > .error"); e != "" {
		t.Fatalf("registry.add failed: %s", e)
	}
	if got := p.text("#registry-added .fingerprint"); got != fp {
		t.Errorf("the page shows the pinned key %q, want %q", got, fp)
	}
	p.wait("registry listed", 30*time.Second, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(fmt.Sprintf(`li[data-registry=%q]`, reg.URL))))

	// Search by a piece of the id, in the category.
	row := fmt.Sprintf(`li[data-market-pkg=%q]`, id)
	p.click(`#market-categories button[data-category="testing"]`)
	p.typeInto("#market-query", id[len(id)-6:])
	p.click(`#market-search button[type=submit]`)
	p.wait("search result", 30*time.Second, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(row)))
	p.click(row + " button")
	p.visible("details", "#market-details")
	if got := p.text("#md-notes"); got == "" {
		t.Error("the details show no release notes")
	}
	p.screens("marketplace", fmt.Sprintf(`!!document.querySelector(%s) && !!document.querySelector('#md-install')`, jsString(row)))

	// Install: the phased progress shows while it runs (if the install is
	// not over before the page renders it), then the installed state, which
	// comes from the document.
	p.click("#md-install")
	p.wait("installed", 3*time.Minute, `!!document.querySelector('#market-installed') || document.querySelector('#market-details > .error').textContent !== ''`)
	if e := p.text("#market-details > .error"); e != "" {
		t.Fatalf("install failed: %s", e)
	}
	p.wait("row marked installed", 30*time.Second, fmt.Sprintf(`document.querySelector(%s)?.dataset.installed === '0.1.0'`, jsString(row)))
	var v *string
	if err := local.Call(ctx, "package.installed-version", model.PackageIDParams{ID: id}, &v); err != nil || v == nil || *v != "0.1.0" {
		t.Fatalf("package.installed-version after the browser install = %v, %v", v, err)
	}
	var doc struct {
		PackageData map[string]struct {
			Registry *string `json:"registry"`
		} `json:"packageData"`
	}
	var dump model.Dump
	if err := local.Call(ctx, "db.dump", map[string]any{"pointer": "/public"}, &dump); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dump.Value, &doc); err != nil {
		t.Fatal(err)
	}
	if r := doc.PackageData[id].Registry; r == nil || *r != reg.URL {
		t.Errorf("packageData.%s.registry = %v, want %s", id, r, reg.URL)
	}
	p.screens("marketplace-installed", `!!document.querySelector('#market-installed')`)

	// A new version published: refreshed from the page, it is offered in
	// Updates and marked in the services list; update all applies it.
	startSDK(t, home, "publish", archive2, "--index", www, "--category", "testing")
	p.click(fmt.Sprintf(`li[data-registry=%q] button[aria-label^="Refresh"]`, reg.URL))
	p.wait("update offered", 60*time.Second, `document.querySelector('#market-updates')?.dataset.count === '1'`)
	p.goTo("#/services")
	p.wait("marked updatable", 30*time.Second, fmt.Sprintf(`document.querySelector(%s)?.dataset.update === '0.2.0'`, jsString(fmt.Sprintf(`li[data-pkg=%q]`, id))))
	p.goTo("#/marketplace")
	p.visible("update all", "#update-all")
	p.click("#update-all")
	p.wait("updated", 3*time.Minute, `document.querySelector('#market-updates')?.dataset.count === '0' || document.querySelector('#market-updates > .error').textContent !== ''`)
	if e := p.text("#market-updates > .error"); e != "" {
		t.Fatalf("update all failed: %s", e)
	}
	if err := local.Call(ctx, "package.installed-version", model.PackageIDParams{ID: id}, &v); err != nil || v == nil || *v != "0.2.0" {
		t.Fatalf("package.installed-version after update all = %v, %v", v, err)
	}
}
