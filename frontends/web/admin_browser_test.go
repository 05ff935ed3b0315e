package web_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/ssh"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// TestBrowserAdmin drives the administration screens of a real startd in a
// real browser: settings (name, hostname, restart with confirmation and a
// refused shutdown), SSH keys, LAN access and the CA, a backup of the box to
// a local target; and checks that pages of another origin cannot write.
func TestBrowserAdmin(t *testing.T) {
	bin := testdaemon.BuildStartd(t)
	data := t.TempDir()
	marks := t.TempDir()
	restarted := filepath.Join(marks, "restarted")
	proc := testdaemon.RunStartd(t, bin, data, "--restart-command", "touch "+restarted)

	ctx := context.Background()
	local := ownedBox(t, ctx, proc.Sock, "Admin Box")

	p := loggedIn(t, proc.HTTP)

	// Pages of another origin on the same site (the browser sends the
	// session cookie) can neither write nor open the WebSocket.
	crossOriginWritesRefused(t, p.ctx, proc.HTTP, local, "Admin Box")
	crossOriginWebSocketRefused(t, p.ctx, proc.HTTP)

	// Settings: a new name reaches the header through the replica; a bad
	// hostname says what is wrong; a good one is shown.
	p.goTo("#/settings")
	p.visible("settings", "#set-name-form")
	p.screens("settings", `document.querySelector('#set-name-current')?.textContent === 'Admin Box'`)
	p.typeInto("#set-name", "Renamed Box")
	p.click(`#set-name-form button[type=submit]`)
	p.wait("new name in the header", 30*time.Second, `document.querySelector('#server-name').textContent === 'Renamed Box' && document.querySelector('#set-name-current').textContent === 'Renamed Box'`)
	p.typeInto("#set-hostname", "Not_A_Label")
	p.click(`#set-hostname-form button[type=submit]`)
	p.wait("hostname error", 30*time.Second, `document.querySelector('#set-hostname-form .error').textContent !== ''`)
	if got := p.text("#set-hostname-form .error"); !strings.Contains(strings.ToLower(got), "hostname") {
		t.Errorf("a bad hostname shows %q, want an error naming the hostname", got)
	}
	p.typeInto("#set-hostname", "adminbox")
	p.click(`#set-hostname-form button[type=submit]`)
	p.wait("new hostname", 30*time.Second, `document.querySelector('#set-hostname-current').textContent === 'adminbox'`)

	// SSH keys: add one, see its fingerprint, remove it after confirming.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(sshPub)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " alice@laptop"
	p.goTo("#/ssh")
	p.visible("ssh page", "#ssh-form")
	p.wait("empty list", 30*time.Second, `!!document.querySelector('#no-keys')`)
	p.typeInto("#ssh-key", "not a key")
	p.click(`#ssh-form button[type=submit]`)
	p.wait("bad key error", 30*time.Second, `document.querySelector('.content > .error').textContent !== ''`)
	p.typeInto("#ssh-key", line)
	p.click(`#ssh-form button[type=submit]`)
	key := fmt.Sprintf(`[data-fingerprint=%q]`, fp)
	p.wait("key listed", 30*time.Second, fmt.Sprintf(`!!document.querySelector(%s) && document.querySelector('.content > .error').textContent === ''`, jsString(key)))
	authorized, err := os.ReadFile(filepath.Join(data, "ssh", "authorized_keys"))
	if err != nil || !strings.Contains(string(authorized), strings.Fields(line)[1]) {
		t.Errorf("authorized_keys after adding from the page: %q (%v)", authorized, err)
	}
	p.screens("ssh", fmt.Sprintf(`!!document.querySelector(%s)`, jsString(key)))
	p.click(key + " button")
	p.visible("confirm dialog", "#confirm-dialog")
	p.click("#confirm-yes")
	p.wait("key removed", 30*time.Second, fmt.Sprintf(`!document.querySelector(%s) && !!document.querySelector('#no-keys')`, jsString(key)))

	// LAN access: the fingerprint is the CA's, and the download is the CA.
	var ca model.CAInfo
	if err := local.Call(ctx, "server.ca", nil, &ca); err != nil {
		t.Fatal(err)
	}
	p.goTo("#/lan")
	p.visible("lan page", "#ca-fingerprint")
	if got := p.text("#ca-fingerprint"); got != ca.Fingerprint {
		t.Errorf("LAN page fingerprint %q, want %q", got, ca.Fingerprint)
	}
	if got := p.text("#lan-box-name"); got != "adminbox.local" {
		t.Errorf("LAN page box name %q", got)
	}
	href := p.attr("#ca-download", "href")
	res, err := http.Get(proc.HTTP + href)
	if err == nil {
		b := make([]byte, 64<<10)
		n, _ := res.Body.Read(b)
		res.Body.Close()
		if !strings.Contains(ca.PEM, strings.TrimSpace(string(b[:n]))[:40]) {
			err = fmt.Errorf("%s is not the CA: %q", href, b[:n])
		}
	}
	if err != nil {
		t.Errorf("the CA download: %v", err)
	}
	p.screens("lan", `!!document.querySelector('#no-addresses')`)

	// Backups: a local target, a backup of the box, its snapshot listed.
	repo := filepath.Join(t.TempDir(), "repo")
	p.goTo("#/backups")
	p.visible("backups page", "#target-form")
	p.wait("no targets", 30*time.Second, `!!document.querySelector('#no-targets')`)
	p.typeInto("#target-name", "USB disk")
	p.typeInto("#target-url", repo)
	p.click(`#target-form button[type=submit]`)
	target := `#backup-targets li[data-target]`
	p.wait("target listed", 30*time.Second, fmt.Sprintf(`!!document.querySelector(%q)`, target))
	p.click(target + ` button[aria-label^="Back up now"]`)
	p.wait("password asked for", 10*time.Second, `document.querySelector('.content > .error').textContent.includes('password')`)
	p.typeInto("#backup-password", "backup secret")
	p.click(target + ` button[aria-label^="Back up now"]`)
	p.wait("backup done", 3*time.Minute, fmt.Sprintf(`(document.querySelector(%q)?.dataset.lastBackup !== '' && document.querySelector('#last-backup').textContent !== '—') || document.querySelector('.content > .error').textContent.includes('backup:')`, target))
	if e := p.text(".content > .error"); e != "" {
		t.Fatalf("the backup failed: %s", e)
	}
	p.click(target + ` button[aria-label^="Snapshots"]`)
	p.wait("box snapshot listed", time.Minute, fmt.Sprintf(`!!document.querySelector(%q)`, target+` tr[data-kind="box"]`))
	// A daily schedule: the daemon answers its next run.
	p.visible("schedule", "#schedule-form")
	p.run("choose daily", 10*time.Second, eval(`(() => { const s = document.querySelector('#sched-frequency'); s.value = 'daily'; s.dispatchEvent(new Event('change', {bubbles: true})); })()`))
	p.visible("schedule time", "#sched-time")
	p.click(`#schedule-form button[type=submit]`)
	p.wait("next run shown", 30*time.Second, `document.querySelector('#schedule-next').dataset.next !== '' || document.querySelector('#schedule-form .error').textContent !== ''`)
	if e := p.text("#schedule-form .error"); e != "" {
		t.Fatalf("saving the schedule: %s", e)
	}
	p.screens("backups", `true`)

	// Power last: a restart stops the services and the backup manager. The
	// page shows serverInfo.statusInfo.restarting once the daemon sets it.
	// Restart asks first; Cancel does nothing.
	p.goTo("#/settings")
	p.visible("settings", "#power-restart")
	p.click("#power-restart")
	p.visible("restart dialog", "#power-dialog")
	p.click(`#power-dialog button[type=button]`)
	p.wait("dialog closed", 10*time.Second, `!document.querySelector('#power-dialog')`)
	if _, err := os.Stat(restarted); err == nil {
		t.Fatal("the restart command ran although the dialog was cancelled")
	}
	p.click("#power-restart")
	p.visible("restart dialog", "#power-dialog")
	p.click("#power-confirm")
	p.wait("restart requested", 60*time.Second, `(() => { const s = document.querySelector('#power-state'); return s.dataset.restarting === 'true' || s.textContent.startsWith('Restart requested'); })()`)
	// The document says restarting before the services are halted and the
	// command runs: wait for the file the command writes.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		_, err := os.Stat(restarted)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restart command did not run: %v", err)
		}
	}
	// A shutdown now is refused, and the dialog says why.
	p.click("#power-shutdown")
	p.visible("shutdown dialog", "#power-dialog")
	p.click("#power-confirm")
	p.wait("shutdown refused", 30*time.Second, `document.querySelector('#power-dialog .error')?.textContent.includes('already under way')`)
	p.click(`#power-dialog button[type=button]`)
	p.wait("dialog closed", 10*time.Second, `!document.querySelector('#power-dialog')`)
}

// crossOriginWritesRefused serves a page from another port of 127.0.0.1
// that tries to rename the box with the logged-in browser's cookie: by a
// fetch (simple, no preflight) and by a form posting text/plain JSON. The
// daemon refuses both by their Origin, and the name stays.
func crossOriginWritesRefused(t *testing.T, browserCtx context.Context, box string, local *rpc.Client, wantName string) {
	t.Helper()
	payload := `{"jsonrpc":"2.0","id":1,"method":"server.set-name","params":{"name":"pwned"},"pad":"`
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><p id="out">trying</p>
<form id="f" method="POST" action="%[1]s/rpc/v1" enctype="text/plain"><input name=%[2]q value='"}'></form>
<script>
fetch(%[1]q + '/rpc/v1', {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'}, body: %[3]q})
  .then(() => 'answered', (e) => 'failed: ' + e)
  .then((s) => { document.getElementById('out').textContent = s; });
</script>`, box, payload, payload+`"}`)
	}))
	defer evil.Close()
	tab, cancel := chromedp.NewContext(browserCtx)
	defer cancel()
	if err := chromedp.Do(tab); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, ctx: tab}
	p.run("open the other origin's page", 30*time.Second, chromedp.Navigate(evil.URL))
	p.wait("the fetch ends", 30*time.Second, `document.getElementById('out').textContent !== 'trying'`)
	// The form navigates the tab to the daemon's answer, which says why.
	p.run("submit the form", 30*time.Second, eval(`document.getElementById('f').submit()`))
	// The poll is retried while the navigation replaces the page's context.
	var got string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(got, "cross-origin request refused") {
		c, cancel := context.WithTimeout(tab, 5*time.Second)
		got, _ = chromedp.Run(c, chromedp.Evaluate[string](`location.pathname === '/rpc/v1' && document.body ? document.body.textContent : ''`))
		cancel()
	}
	if !strings.Contains(got, "cross-origin request refused") {
		t.Errorf("the cross-origin form POST got %q, want the daemon's refusal", got)
	}
	var dump struct {
		Value struct {
			ServerInfo model.ServerInfo `json:"serverInfo"`
		} `json:"value"`
	}
	if err := local.Call(context.Background(), "db.dump", model.DumpParams{Pointer: "/public"}, &dump); err != nil {
		t.Fatal(err)
	}
	if got := dump.Value.ServerInfo.Name; got != wantName {
		t.Fatalf("after the cross-origin writes the box is named %q, want %q", got, wantName)
	}
}
