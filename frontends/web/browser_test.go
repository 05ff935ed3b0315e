package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// screensDir receives screenshots of the main screens at both sizes; it is
// git-ignored: people look at them, tests compare the outline instead
// (golden_test.go).
const screensDir = "testdata/screens"

var sizes = [][2]int64{{1280, 800}, {390, 844}}

// Browser starts Debian's chromium headless for t; it fails, saying what to
// install, when there is none.
func Browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the web UI tests drive Debian's chromium: install it with apt-get install -y chromium (just tools does it as root): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
		// The interface links are the LAN router's https://<name>.local
		// addresses: here they resolve to loopback, where the test's startd
		// runs the router. The chain itself is checked by the LAN test
		// (frontends/daemon), which trusts only the box's CA.
		chromedp.Flag("host-resolver-rules", "MAP *.local 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// page drives one tab; every wait is bounded and reads a DOM state that
// stays once reached.
type page struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	exceptions []string // uncaught exceptions in the page, guarded by mu
}

// watchExceptions records every uncaught exception of the page until the
// test ends; a page that throws fails the test.
func (p *page) watchExceptions() {
	ctx, cancel := context.WithCancel(p.ctx)
	done := make(chan struct{})
	events := chromedp.Events(ctx, cdpruntime.ExceptionThrown)
	go func() {
		defer close(done)
		for ev, err := range events {
			if err != nil {
				return
			}
			msg := ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil && ex.Description != "" {
				msg += " " + ex.Description
			}
			p.mu.Lock()
			p.exceptions = append(p.exceptions, msg)
			p.mu.Unlock()
		}
	}()
	p.t.Cleanup(func() {
		cancel()
		<-done
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.exceptions {
			p.t.Errorf("the page threw: %s", e)
		}
	})
}

func (p *page) fail(what string, err error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	if len(html) > 4000 {
		html = html[:4000] + "…"
	}
	p.mu.Lock()
	thrown := strings.Join(p.exceptions, "\n")
	p.mu.Unlock()
	p.t.Fatalf("%s: %v\npage:\n%s\nexceptions:\n%s", what, err, html, thrown)
}

func (p *page) run(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.fail(what, err)
	}
}

// until is a step that polls a JavaScript condition until it holds.
func until(js string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[any](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout))(ctx, t)
		return err
	})
}

// eval is a step that runs JavaScript for its effect.
func eval(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](js)(ctx, t)
		return err
	})
}

// ownedBox gives the box at sock an owner ("correct horse") and a name, and
// returns a local client to it, closed when the test ends.
func ownedBox(t *testing.T, ctx context.Context, sock, name string) *rpc.Client {
	t.Helper()
	local, err := rpc.Dial(ctx, "unix://"+sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	if err := local.Call(ctx, "setup.execute", map[string]any{"password": "correct horse", "name": name}, nil); err != nil {
		t.Fatal(err)
	}
	return local
}

// loggedIn opens the box's page in a new browser and logs in as the owner.
func loggedIn(t *testing.T, boxURL string) *page {
	t.Helper()
	p := &page{t: t, ctx: Browser(t)}
	p.watchExceptions()
	p.run("open the box", 30*time.Second, chromedp.Navigate(boxURL+"/"))
	p.typeInto("#login-password", "correct horse")
	p.click(`#login-form button[type=submit]`)
	p.wait("dashboard", 60*time.Second, `document.querySelector('#dashboard')?.dataset.ready === 'true'`)
	return p
}

// wait polls a JavaScript condition until it holds.
func (p *page) wait(what string, timeout time.Duration, js string) {
	p.t.Helper()
	p.run(what, timeout+5*time.Second, until(js, timeout))
}

func (p *page) visible(what, sel string) {
	p.t.Helper()
	p.run(what, 30*time.Second, chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (p *page) click(sel string) {
	p.t.Helper()
	p.run("click "+sel, 30*time.Second, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto replaces the text of an input as a person would, so the page's
// input handlers see it.
func (p *page) typeInto(sel, text string) {
	p.t.Helper()
	p.run("type into "+sel, 30*time.Second,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Focus(chromedp.CSS(sel)),
		eval(fmt.Sprintf(`document.querySelector(%q).select()`, sel)),
		chromedp.SendKeys(chromedp.CSS(sel), text),
	)
}

// text waits for sel and reads its text in one evaluation in the page: a
// node found by one protocol call and read by the next can be replaced by a
// re-render in between ("No node with given id found").
func (p *page) text(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 35*time.Second)
	defer cancel()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? [e.textContent] : null })()`, jsString(sel))
	got, err := chromedp.Run(ctx, chromedp.Poll[[]string](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || len(got) != 1 {
		p.fail("read "+sel, err)
	}
	return strings.TrimSpace(got[0])
}

func (p *page) valueOf(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		p.fail("value of "+sel, err)
	}
	return v
}

func (p *page) attr(sel, name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		p.fail("attribute "+name+" of "+sel, err)
	}
	return v.Value
}

func (p *page) goTo(hash string) {
	p.t.Helper()
	p.run("go to "+hash, 10*time.Second, eval(fmt.Sprintf(`location.hash = %q`, hash)))
}

// screens writes the current screen at each size; ready is a condition the
// screen meets once it has settled (live data arrived).
func (p *page) screens(name, ready string) {
	p.t.Helper()
	if err := os.MkdirAll(screensDir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	for _, sz := range sizes {
		p.run("viewport for "+name, 30*time.Second, chromedp.EmulateViewport(sz[0], sz[1]), until(ready, 20*time.Second),
			eval(`document.activeElement && document.activeElement.blur(); scrollTo(0, 0)`))
		ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			p.fail("screenshot "+name, err)
		}
		if err := os.WriteFile(filepath.Join(screensDir, fmt.Sprintf("%s-%dx%d.png", name, sz[0], sz[1])), png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	p.run("restore viewport", 10*time.Second, chromedp.EmulateViewport(sizes[0][0], sizes[0][1]))
	p.golden(name)
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

// TestBrowserLifecycle drives the UI of a real startd in a real browser:
// setup, a wrong password, login, sideload of a real package, running and
// healthy, its interface, an action with input, its logs, stop and start,
// notifications, sessions, diagnostics, a daemon restart, uninstall.
func TestBrowserLifecycle(t *testing.T) {
	eng := testpkg.Engine(t)
	port := testpkg.FreePort(t)
	pkg := testpkg.Build(t, eng, testpkg.Options{Port: port, HelloInput: true,
		Extra: "alerts:\n  uninstall: Uninstalling deletes the greetings you saved.\n"})
	id := pkg.Manifest.ID
	archive := filepath.Join(t.TempDir(), id+".s9pk")
	pkg.WriteArchive(t, archive)

	bin := testdaemon.BuildStartd(t)
	data := t.TempDir()
	proc := testdaemon.RunStartd(t, bin, data)
	base := proc.HTTP + "/"

	ctx := Browser(t)
	downloads := t.TempDir()
	p := &page{t: t, ctx: ctx}
	p.watchExceptions()
	p.run("open the box", 30*time.Second,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
			return err
		}),
		chromedp.Navigate(base))

	// Setup: the box has no owner.
	p.visible("setup form", "#setup-form")
	p.screens("setup", `!!document.querySelector('#setup-form')`)
	p.typeInto("#setup-name", "Web Test Box")
	p.typeInto("#setup-password", "correct horse")
	p.typeInto("#setup-password2", "correct horsf")
	p.click(`#setup-form button[type=submit]`)
	p.wait("mismatch error", 10*time.Second, `document.querySelector('#setup-form .error').textContent.includes('differ')`)
	p.typeInto("#setup-password2", "correct horse")
	p.click(`#setup-form button[type=submit]`)
	p.wait("dashboard after setup", 60*time.Second, `document.querySelector('#dashboard')?.dataset.ready === 'true'`)
	if got := p.text("#server-name"); got != "Web Test Box" {
		t.Errorf("server name in the header = %q", got)
	}

	// Log out; a wrong password shows the error, a few more the wait.
	p.click("#logout")
	p.visible("login form", "#login-form")
	p.typeInto("#login-password", "wrong password")
	p.click(`#login-form button[type=submit]`)
	p.wait("wrong password error", 30*time.Second, `document.querySelector('#login-form').dataset.attempts === '1'`)
	if got := p.text("#login-form .error"); got != "Wrong password." {
		t.Errorf("after a wrong password the login says %q", got)
	}
	p.screens("login-wrong-password", `true`)
	limited := false
	for n := 2; n <= 8 && !limited; n++ {
		p.click(`#login-form button[type=submit]`)
		p.wait("attempt answered", 30*time.Second, fmt.Sprintf(`document.querySelector('#login-form').dataset.attempts === '%d'`, n))
		limited = strings.Contains(p.text("#login-form .error"), "Try again in")
	}
	if !limited {
		t.Fatalf("repeated wrong passwords never showed the rate limit; the error reads %q", p.text("#login-form .error"))
	}
	// The button comes back when the wait is over.
	p.wait("login allowed again", 6*time.Minute, `!document.querySelector('#login-form button[type=submit]').disabled`)
	p.typeInto("#login-password", "correct horse")
	p.click(`#login-form button[type=submit]`)
	p.wait("dashboard after login", 60*time.Second, `document.querySelector('#dashboard')?.dataset.ready === 'true'`)
	p.screens("dashboard", `document.querySelector('#dashboard')?.dataset.ready === 'true' && document.querySelector('#dash-cpu').dataset.value !== ''`)

	// A page of another origin on the same site (so the browser sends the
	// session cookie) cannot open the box's WebSocket.
	crossOriginWebSocketRefused(t, ctx, proc.HTTP)

	// Sideload the package by upload; the page reports it installed.
	p.goTo("#/install")
	p.visible("install page", "#sideload-form")
	p.run("choose the file", 10*time.Second, chromedp.SetUploadFiles(chromedp.CSS("#sideload-file"), []string{archive}))
	p.wait("file chosen", 10*time.Second, `!document.querySelector('#sideload-submit').disabled`)
	p.click("#sideload-submit")
	p.wait("installed", 3*time.Minute, `!!document.querySelector('#install-done') || document.querySelector('#prog-label').parentElement.querySelector('.error').textContent !== ''`)
	if e := p.text(`section[aria-labelledby=prog-label] .error`); e != "" {
		t.Fatalf("install failed: %s", e)
	}
	p.screens("install-done", `!!document.querySelector('#install-done')`)

	// The services list follows it to running and healthy.
	p.goTo("#/services")
	row := fmt.Sprintf(`li[data-pkg=%q]`, id)
	healthy := fmt.Sprintf(`!!document.querySelector(%s)`, jsString(row+`[data-status="running"][data-health="success"]`))
	p.wait("running and healthy in the list", 2*time.Minute, healthy)
	// The test package's icon is a 1x1 pixel: the list shows a letter tile,
	// not an empty box.
	p.wait("icon fallback", 30*time.Second, fmt.Sprintf(`document.querySelector(%s)?.textContent === 'T'`, jsString(row+` [data-icon="fallback"]`)))
	p.screens("services", healthy)

	// Its page: the interface link answers, an action runs with input.
	p.click(row + " a")
	p.visible("service page", fmt.Sprintf(`#service[data-pkg=%q]`, id))
	p.visible("interface link", "a.iface-link")
	href := p.attr("a.iface-link", "href")
	if want := "https://main-" + id + "-"; !strings.HasPrefix(href, want) || !strings.Contains(href, ".local:") {
		t.Fatalf("interface link %q, want the LAN address %s<hostname>.local:<port>", href, want)
	}
	// Chromium aborts a load with ERR_NETWORK_CHANGED when the host's
	// interfaces change (other tests create Docker networks): that load is
	// tried again in a fresh tab, any other failure is final.
	var body string
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		tab, closeTab := chromedp.NewContext(ctx)
		tabCtx, cancelTab := context.WithTimeout(tab, 30*time.Second)
		err = chromedp.Do(tabCtx, chromedp.Navigate(href))
		if err == nil {
			body, err = chromedp.Run(tabCtx, chromedp.TextContent(chromedp.CSS("body")))
		}
		cancelTab()
		closeTab()
		if err == nil || !strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") {
			break
		}
	}
	if err != nil || !strings.Contains(body, "hello from testpkg") {
		t.Fatalf("the interface link %s shows %q (%v)", href, body, err)
	}

	p.click(`button[data-action="hello"]`)
	p.visible("action form", `form[data-form="hello"] #f-hello-name`)
	if got := p.valueOf(`#f-hello-name`); got != "world" {
		t.Errorf("the action form starts with %q, want the spec's default world", got)
	}
	p.typeInto("#f-hello-name", "Alice")
	p.click(`form[data-form="hello"] button[type=submit]`)
	p.wait("action result", time.Minute, `document.querySelector('[data-result="hello"]')?.textContent.includes('Hello, Alice')`)
	if got := p.text(`[data-result="hello"] code`); got != "secret-Alice" {
		t.Errorf("action value = %q", got)
	}

	// Its log, live.
	p.wait("startup line in the logs", time.Minute, fmt.Sprintf(`document.querySelector('#logs').textContent.includes(%s)`, jsString(testpkg.StartupLine)))
	p.typeInto("#log-search", "no such line")
	p.wait("search hides lines", 10*time.Second, `document.querySelectorAll('#logs .line').length === 0`)
	p.typeInto("#log-search", "listening")
	p.wait("search shows the line", 10*time.Second, `document.querySelectorAll('#logs .line').length >= 1`)
	p.screens("service", `document.querySelector('#svc-mem').textContent !== '—'`)

	// Stop and start from the page.
	status := func(s string) string {
		return fmt.Sprintf(`!!document.querySelector('.status-line [data-status=%q]')`, s)
	}
	p.click("#svc-stop")
	p.wait("stopped", time.Minute, status("stopped"))
	p.click("#svc-start")
	p.wait("running again", 2*time.Minute, status("running")+` && !!document.querySelector('.status-line [data-health="success"]')`)

	// Notifications: one raised on the box shows up live, is marked seen,
	// then deleted.
	local, err := rpc.Dial(context.Background(), "unix://"+proc.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	var nid uint32
	if err := local.Call(context.Background(), "notification.create", map[string]any{"level": "warning", "title": "Disk almost full", "message": "Only 2 GB left."}, &nid); err != nil {
		t.Fatal(err)
	}
	p.goTo("#/notifications")
	item := fmt.Sprintf(`[data-notification="%d"]`, nid)
	p.wait("notification listed unseen", 30*time.Second, fmt.Sprintf(`document.querySelector(%s)?.dataset.seen === 'false'`, jsString(item)))
	p.screens("notifications", `true`)
	p.click(item + ` button[aria-label^="Mark seen"]`)
	p.wait("notification seen", 30*time.Second, fmt.Sprintf(`document.querySelector(%s)?.dataset.seen === 'true'`, jsString(item)))
	p.click(item + ` button[aria-label^="Delete"]`)
	p.wait("notification deleted", 30*time.Second, fmt.Sprintf(`!document.querySelector(%s)`, jsString(item)))

	// Sessions: this browser's is marked.
	p.goTo("#/sessions")
	p.wait("current session", 30*time.Second, `!!document.querySelector('[data-current="true"]')`)
	p.screens("sessions", `true`)

	// Diagnostics: the report, and the bundle downloads.
	p.goTo("#/diagnostics")
	p.visible("probes", "#probes")
	p.screens("diagnostics", `!!document.querySelector('#probes tbody tr')`)
	p.click("#diagnose")
	p.wait("bundle fetched", time.Minute, `document.querySelector('#diagnose-done').textContent.startsWith('Downloaded')`)

	// A daemon restart: the page says it lost the box, then that it is back,
	// and the replica is live again.
	if err := proc.Stop(t); err != nil {
		t.Fatalf("startd exit: %v", err)
	}
	p.wait("says the connection is lost", 30*time.Second, `document.querySelector('#conn-state').dataset.conn === 'reconnecting'`)
	p.screens("reconnecting", `true`)
	u, _ := url.Parse(proc.HTTP)
	proc = testdaemon.RunStartdOn(t, bin, data, u.Host)
	p.wait("reconnected", time.Minute, `document.querySelector('#conn-state').dataset.reconnects === '1' && document.querySelector('#conn-state').dataset.conn !== 'reconnecting'`)
	local2, err := rpc.Dial(context.Background(), "unix://"+proc.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer local2.Close()
	if err := local2.Call(context.Background(), "notification.create", map[string]any{"level": "info", "title": "After restart", "message": "Live again."}, &nid); err != nil {
		t.Fatal(err)
	}
	p.goTo("#/")
	dashboardCountsUnseen(t, p, local2, nid)

	// Uninstall from its page, with the manifest's alert.
	p.goTo("#/services/" + id)
	p.wait("running after the restart", 2*time.Minute, status("running"))
	p.click("#svc-uninstall")
	p.visible("uninstall dialog", "#uninstall-dialog")
	if got := p.text("#uninstall-alert"); !strings.Contains(got, "deletes the greetings") {
		t.Errorf("uninstall alert = %q", got)
	}
	p.screens("uninstall", `true`)
	p.click("#uninstall-confirm")
	p.wait("gone from the list", 2*time.Minute, fmt.Sprintf(`location.hash === '#/services' && !document.querySelector(%s)`, jsString(row)))

	entries, _ := os.ReadDir(downloads)
	if len(entries) == 0 {
		t.Error("the diagnostic bundle was not downloaded")
	}
}

// dashboardCountsUnseen waits until the dashboard's unread figure is the
// box's own count of unseen notifications, among them nid. The box may raise
// one of its own at any time (a stall, a failing check), so the figure to
// wait for is asked of the box on every round, not fixed by the test.
func dashboardCountsUnseen(t *testing.T, p *page, local *rpc.Client, nid uint32) {
	t.Helper()
	var list []model.Notification
	shown := ""
	deadline := time.Now().Add(time.Minute)
	for {
		list = nil
		if err := local.Call(context.Background(), "notification.list", map[string]any{"limit": 100}, &list); err != nil {
			t.Fatal(err)
		}
		unseen, listed := 0, false
		for _, n := range list {
			if !n.Seen {
				unseen++
				listed = listed || n.ID == nid
			}
		}
		shown = p.text("#dash-unread")
		if listed && strings.HasPrefix(shown, strconv.Itoa(unseen)+" ") {
			for _, n := range list {
				if !n.Seen && n.ID != nid {
					t.Logf("the box raised a notification of its own: %q: %s", n.Title, n.Message)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			break
		}
		// The page's figure follows the box's replica: wait (briefly, as
		// the box may be the one still behind) for it to move.
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		_ = chromedp.Do(ctx, until(fmt.Sprintf(`document.querySelector('#dash-unread')?.textContent.trim() !== %s`, jsString(shown)), 2*time.Second))
		cancel()
	}
	var titles []string
	for _, n := range list {
		titles = append(titles, fmt.Sprintf("%d %q seen=%v", n.ID, n.Title, n.Seen))
	}
	t.Fatalf("live after the restart: the dashboard shows %q unread; the box has:\n%s", shown, strings.Join(titles, "\n"))
}

// crossOriginWebSocketRefused serves a page from another port of 127.0.0.1
// that tries to open the box's /ws/rpc with the logged-in browser's cookie,
// and checks that the upgrade is refused.
func crossOriginWebSocketRefused(t *testing.T, browserCtx context.Context, box string) {
	t.Helper()
	wsURL := "ws" + strings.TrimPrefix(box, "http") + "/ws/rpc"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><p id="out">trying</p><script>
const ws = new WebSocket(%q);
ws.onopen = () => { document.getElementById('out').textContent = 'opened'; };
ws.onclose = () => { if (document.getElementById('out').textContent === 'trying') document.getElementById('out').textContent = 'refused'; };
</script>`, wsURL)
	}))
	defer evil.Close()
	tab, cancel := chromedp.NewContext(browserCtx)
	defer cancel()
	// The tab lives as long as the context of its first run: no timeout.
	if err := chromedp.Do(tab); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, ctx: tab}
	p.run("open the other origin's page", 30*time.Second, chromedp.Navigate(evil.URL))
	p.wait("the upgrade ends", 30*time.Second, `document.getElementById('out').textContent !== 'trying'`)
	if got := p.text("#out"); got != "refused" {
		t.Errorf("a page from %s opened the box's WebSocket: %s", evil.URL, got)
	}
}
