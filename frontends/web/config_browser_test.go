package web_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/service"
)

// TestBrowserConfig drives a package's config form in a real browser
// against a real startd: a package with a config spec of every type is
// needs-config; the form the page generates is checked by the box as it is
// edited (errors at the path the box names), saved, and the package leaves
// needs-config for good (still so after a reload); its properties show
// masked values with reveal and copy.
func TestBrowserConfig(t *testing.T) {
	eng := testpkg.Engine(t)
	spec, err := os.ReadFile("../../startos/config/testdata/every-type.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pkg := testpkg.Build(t, eng, testpkg.Options{Config: "compat", Assets: map[string]string{"config_spec.yaml": string(spec)}})
	id := pkg.Manifest.ID
	archive := filepath.Join(t.TempDir(), id+".s9pk")
	pkg.WriteArchive(t, archive)
	body, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}

	bin := testdaemon.BuildStartd(t)
	data := t.TempDir()
	proc := testdaemon.RunStartd(t, bin, data)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	local := ownedBox(t, ctx, proc.Sock, "Config Box")
	if err := local.Sideload(ctx, model.SideloadParams{}, bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatalf("sideload: %v", err)
	}
	t.Cleanup(func() { _ = local.Call(context.Background(), "package.uninstall", map[string]any{"id": id}, nil) })

	p := loggedIn(t, proc.HTTP)

	status := func(s string) string {
		return fmt.Sprintf(`!!document.querySelector('.status-line [data-status=%q]')`, s)
	}
	p.goTo("#/services/" + id)
	p.wait("needs config", 60*time.Second, status("needs-config")+` && !!document.querySelector('#config-needed')`)
	// The form opens by itself while a config is needed, with the spec's
	// defaults: every type has a control.
	p.visible("config form", "#config-form #cfg-greeting")
	for _, sel := range []string{`#cfg-password[type=password]`, `#cfg-port[type=number]`, `#cfg-enabled[type=checkbox]`, `select#cfg-color`,
		`[data-add="tags"]`, `[data-add="users"]`, `fieldset[data-path="advanced"] #cfg-advanced-threads`, `select#cfg-backend-type`, `output#cfg-dep-address`} {
		p.visible("control "+sel, sel)
	}
	if got := p.valueOf("#cfg-greeting"); got != "hello" {
		t.Errorf("greeting starts as %q, want the default hello", got)
	}
	if got := p.valueOf("#cfg-password"); len(got) != 22 {
		t.Errorf("the generated password is %q, want 22 characters", got)
	}

	// A value the pattern refuses: the box names its path; the field shows it.
	p.typeInto("#cfg-greeting", "Hello!")
	p.wait("greeting error", 30*time.Second, `!!document.querySelector('[data-error-path="greeting"]') && document.querySelector('#config-form').dataset.state === 'invalid'`)
	p.typeInto("#cfg-greeting", "hi there")
	p.wait("valid again", 30*time.Second, `!document.querySelector('[data-error-path]') && document.querySelector('#config-form').dataset.state === 'valid'`)
	// A second user with the default name breaks unique-by: the error is
	// on that item.
	p.click(`[data-add="users"]`)
	p.wait("duplicate user error", 30*time.Second, `!!document.querySelector('[data-error-path="users[1]"]')`)
	p.typeInto("#cfg-users-1-name", "bob")
	p.wait("valid with two users", 30*time.Second, `document.querySelector('#config-form').dataset.state === 'valid'`)
	p.run("pick the external backend", 10*time.Second,
		eval(`(() => { const s = document.querySelector('#cfg-backend-type'); s.value = 'external'; s.dispatchEvent(new Event('change', {bubbles: true})); })()`))
	p.visible("the variant's field", "#cfg-backend-url")
	p.wait("valid", 30*time.Second, `document.querySelector('#config-form').dataset.state === 'valid'`)
	p.screens("config", `document.querySelector('#config-form').dataset.state === 'valid'`)

	p.click("#config-save")
	p.wait("saved", 60*time.Second, `document.querySelector('#config-form').dataset.state === 'saved'`)
	p.wait("left needs-config", 60*time.Second, status("stopped")+` && !document.querySelector('#config-needed')`)
	var got struct {
		Config map[string]any `json:"config"`
	}
	if err := local.Call(ctx, "package.config.get", map[string]any{"id": id}, &got); err != nil {
		t.Fatal(err)
	}
	if b, _ := got.Config["backend"].(map[string]any); got.Config["greeting"] != "hi there" || b["type"] != "external" || len(got.Config["users"].([]any)) != 2 {
		t.Fatalf("the saved config: %v", got.Config)
	}
	// Durable: a fresh page still shows the package configured.
	p.run("reload", 30*time.Second, chromedp.Reload())
	p.wait("still configured after a reload", 60*time.Second, status("stopped")+` && !!document.querySelector('#config-card') && !document.querySelector('#config-needed')`)

	// Properties (the compat form reads stats.yaml from the main volume).
	stats := "version: 2\ndata:\n  Admin password:\n    type: string\n    value: s3cret-pw\n    masked: true\n    copyable: true\n    qr: false\n    description: Log in with it.\n  Connection:\n    type: object\n    value:\n      Address:\n        type: string\n        value: box.local:8080\n        copyable: true\n        masked: false\n        qr: true\n"
	statsFile := filepath.Join(service.VolumePath(data, id, "main"), "start9", "stats.yaml")
	if err := os.MkdirAll(filepath.Dir(statsFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statsFile, []byte(stats), 0o644); err != nil {
		t.Fatal(err)
	}
	p.click("#props-toggle")
	p.wait("properties", 30*time.Second, `document.querySelector('[data-prop="Admin password"] code')?.dataset.masked === 'true'`)
	if got := p.text(`[data-prop="Connection.Address"] code`); got != "box.local:8080" {
		t.Errorf("nested property shows %q", got)
	}
	p.visible("copy button", `[data-copy="Admin password"]`)
	p.click(`[data-prop="Admin password"] .reveal`)
	p.wait("revealed", 10*time.Second, `document.querySelector('[data-prop="Admin password"] code').textContent === 's3cret-pw'`)
	p.screens("properties", `document.querySelector('[data-prop="Admin password"] code').textContent === 's3cret-pw'`)
}
