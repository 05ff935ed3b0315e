// Package webbench measures the web UI in headless Chromium against an
// in-process daemon on loopback: the time from navigation to a usable
// dashboard (cold, then with the assets cached), the time a revision of the
// state document takes to reach the services list with 50 packages, and the
// bytes a browser downloads. The goals (issue 16) are 300 ms to a usable
// dashboard and one 60 Hz frame (16.7 ms) per revision at p99. `just bench`
// calls Run.
package webbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/startos-go/startos/frontends/web"
	"github.com/startos-go/startos/rpc/server"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/model"
)

type config struct {
	packages    int // rows in the services list
	navigations int // warm navigations timed
	revisions   int // revisions timed on the services list
}

var defaultConfig = config{packages: 50, navigations: 20, revisions: 300}

const (
	dashboardGoal = 300 * time.Millisecond
	frameBudget   = time.Second / 60
	password      = "bench password"
)

// Run prints one line per figure to w.
func Run(ctx context.Context, w io.Writer) error { return run(ctx, w, defaultConfig) }

func run(ctx context.Context, w io.Writer, cfg config) error {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		return fmt.Errorf("the web bench drives Debian's chromium: apt-get install -y chromium: %w", err)
	}
	dir, err := os.MkdirTemp("", "startos-webbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	lib, err := startos.Open(ctx, startos.Config{DataDir: dir, Stderr: io.Discard,
		PasswordParams: &auth.Params{Memory: 1024, Time: 1, Threads: 1}})
	if err != nil {
		return err
	}
	defer lib.Close()
	srv := server.New(lib, server.Options{})
	ui, err := web.New()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: ui.Mount(srv.Handler()), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); hs.Serve(l) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		srv.Shutdown(sctx)
		<-served
	}()
	base := "http://" + l.Addr().String() + "/"
	if _, err := lib.Setup(ctx, model.SetupParams{Password: password, Name: "Bench Box"}); err != nil {
		return err
	}
	if err := addPackages(ctx, lib, cfg.packages); err != nil {
		return err
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil {
		return fmt.Errorf("start chromium: %w", err)
	}
	step := func(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) error {
		c, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		return chromedp.Do(c, steps...)
	}
	eval := func(timeout time.Duration, js string, out any) error {
		c, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
		if err != nil {
			return err
		}
		if out != nil {
			return json.Unmarshal(v, out)
		}
		return nil
	}
	until := func(timeout time.Duration, js string) error {
		c, cancel := context.WithTimeout(bctx, timeout+5*time.Second)
		defer cancel()
		_, err := chromedp.Run(c, chromedp.Poll[any](js, chromedp.WithPollingInterval(2*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
		return err
	}

	// Log in once; the session cookie serves every navigation after.
	if err := step(30*time.Second, chromedp.Navigate(base)); err != nil {
		return err
	}
	if err := until(30*time.Second, `!!document.querySelector('#login-form')`); err != nil {
		return fmt.Errorf("login screen: %w", err)
	}
	// What the first visit downloads: the login screen loads every module.
	var shipped struct{ Transfer, Decoded float64 }
	if err := eval(10*time.Second, `(() => { const es = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
		.filter(e => !e.name.includes('/rpc/') && !e.name.includes('/ws/'));
		return {transfer: es.reduce((a, e) => a + e.transferSize, 0), decoded: es.reduce((a, e) => a + e.decodedBodySize, 0)}; })()`, &shipped); err != nil {
		return err
	}
	var ok bool
	login := fmt.Sprintf(`fetch('/rpc/v1', {method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({jsonrpc: '2.0', id: 1, method: 'auth.login', params: {password: %q}})}).then(r => r.json()).then(b => !b.error)`, password)
	if err := eval(30*time.Second, login, &ok); err != nil || !ok {
		return fmt.Errorf("log in from the page: ok=%v %v", ok, err)
	}

	// Navigation to a usable dashboard: live figures, uptime and watchdog
	// shown. The first load fetches every asset; the others revalidate
	// index.html only.
	var readyMs []float64
	for i := 0; i <= cfg.navigations; i++ {
		// A new query string makes each one a full page load.
		if err := step(30*time.Second, chromedp.Navigate(fmt.Sprintf("%s?visit=%d#/", base, i))); err != nil {
			return err
		}
		if err := until(30*time.Second, `window.__startos && window.__startos.readyAt > 0`); err != nil {
			return fmt.Errorf("dashboard never became usable: %w", err)
		}
		var ms float64
		if err := eval(10*time.Second, `window.__startos.readyAt`, &ms); err != nil {
			return err
		}
		if i == 0 {
			fmt.Fprintf(w, "web dashboard usable, first after login: %5.1f ms (goal ≤ %v)\n", ms, dashboardGoal)
			continue
		}
		readyMs = append(readyMs, ms)
	}
	slices.Sort(readyMs)
	fmt.Fprintf(w, "web dashboard usable, cached assets:   p50 %5.1f ms  max %5.1f ms over %d navigations (goal ≤ %v)\n",
		pct(readyMs, 50), readyMs[len(readyMs)-1], len(readyMs), dashboardGoal)
	raw, gz := ui.Shipped()
	fmt.Fprintf(w, "web bytes shipped, first visit:        %7.0f bytes on the wire (%0.f decoded); index+JS+CSS %d bytes, %d gzipped (budget 150 KiB)\n",
		shipped.Transfer, shipped.Decoded, raw, gz)

	// Revisions on the services list: each flips one package's health;
	// the page records from the patch's arrival to the list's commit.
	if err := step(10*time.Second, chromedp.Navigate(base+"#/services")); err != nil {
		return err
	}
	if err := until(30*time.Second, fmt.Sprintf(`document.querySelectorAll('#services li').length === %d`, cfg.packages)); err != nil {
		return fmt.Errorf("services list: %w", err)
	}
	if err := eval(5*time.Second, `window.__startos.revisionRenderMs = []; true`, nil); err != nil {
		return err
	}
	for i := range cfg.revisions {
		id := pkgID(i % cfg.packages)
		result := model.HealthFailure
		if (i/cfg.packages)%2 == 1 {
			result = model.HealthSuccess
		}
		if _, err := lib.DB().Mutate(ctx, func(d *model.Document) error {
			e := d.Public.PackageData[id]
			e.StatusInfo.Health = map[string]model.HealthCheckResult{"web": {Name: "Web", Result: result, Message: fmt.Sprint("check ", i)}}
			d.Public.PackageData[id] = e
			return nil
		}); err != nil {
			return err
		}
		if err := until(10*time.Second, fmt.Sprintf(`window.__startos.revisionRenderMs.length >= %d`, i+1)); err != nil {
			return fmt.Errorf("revision %d never reached the list: %w", i, err)
		}
	}
	var frames []float64
	if err := eval(5*time.Second, `window.__startos.revisionRenderMs`, &frames); err != nil {
		return err
	}
	if len(frames) == 0 {
		return errors.New("no revision was timed")
	}
	slices.Sort(frames)
	fmt.Fprintf(w, "web services list, %d packages, revision: p50 %.2f ms  p99 %.2f ms  max %.2f ms over %d (goal p99 ≤ %.1f ms)\n",
		cfg.packages, pct(frames, 50), pct(frames, 99), frames[len(frames)-1], len(frames), float64(frameBudget.Microseconds())/1000)
	return nil
}

func pkgID(i int) string { return fmt.Sprintf("bench-%02d", i) }

// addPackages writes n installed, running packages into the document, the
// shape an install leaves; no container backs them.
func addPackages(ctx context.Context, lib *startos.Server, n int) error {
	started := time.Now().UTC()
	_, err := lib.DB().Mutate(ctx, func(d *model.Document) error {
		for i := range n {
			id := pkgID(i)
			mf, _ := json.Marshal(map[string]any{"id": id, "title": fmt.Sprintf("Bench Service %02d", i), "version": "1.0.0",
				"description": map[string]string{"short": "A benchmark row.", "long": "A benchmark row."}})
			d.Public.PackageData[id] = model.PackageDataEntry{
				StateInfo: model.StateInfo{State: model.PackageInstalled, Manifest: mf},
				StatusInfo: model.PackageStatusInfo{
					Desired: model.DesiredStatus{Main: model.DesiredRunning}, Started: &started,
					Health: map[string]model.HealthCheckResult{"web": {Name: "Web", Result: model.HealthSuccess}},
				},
				CurrentDependencies: map[string]model.CurrentDependency{},
			}
		}
		return nil
	})
	return err
}

// pct is the p-th percentile of sorted values (nearest rank).
func pct(sorted []float64, p int) float64 {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))]
}
