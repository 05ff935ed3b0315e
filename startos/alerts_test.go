package startos

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/service"
	"github.com/startos-go/startos/startos/watchdog"
)

// hookServer is a webhook receiver on loopback that keeps the title of
// each notification delivered to it.
type hookServer struct {
	mu     sync.Mutex
	titles []string
	url    string
}

// runWithWebhook opens a server with cfg and a webhook to a loopback hook
// server, installs pkg and starts it; the package is stopped and the server
// closed when the test ends.
func runWithWebhook(t *testing.T, ctx context.Context, pkg *testpkg.Package, cfg Config) (*Server, *hookServer) {
	t.Helper()
	hook := newHookServer(t)
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.WebhookAdd(ctx, model.WebhookAddParams{URL: hook.url}); err != nil {
		t.Fatal(err)
	}
	id := pkg.Manifest.ID
	archive := filepath.Join(t.TempDir(), id+".s9pk")
	pkg.WriteArchive(t, archive)
	installArchive(t, ctx, s, archive)
	t.Cleanup(func() { _, _ = s.StopPackage(context.Background(), model.PackageIDParams{ID: id}) })
	if _, err := s.StartPackage(ctx, model.PackageIDParams{ID: id}); err != nil {
		t.Fatal(err)
	}
	return s, hook
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Title string `json:"title"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		h.mu.Lock()
		h.titles = append(h.titles, body.Title)
		h.mu.Unlock()
	}))
	t.Cleanup(hs.Close)
	h.url = hs.URL + "/hook"
	return h
}

// count is how many deliveries had a title containing part.
func (h *hookServer) count(part string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, t := range h.titles {
		if strings.Contains(t, part) {
			n++
		}
	}
	return n
}

// notificationsTitled is how many notifications in the document have a
// title containing part.
func notificationsTitled(t *testing.T, s *Server, part string) []model.Notification {
	t.Helper()
	limit := 1000
	all, err := s.Notifications(context.Background(), model.NotificationListParams{Limit: &limit})
	if err != nil {
		t.Fatal(err)
	}
	var out []model.Notification
	for _, n := range all {
		if strings.Contains(n.Title, part) {
			out = append(out, n)
		}
	}
	return out
}

// waitNotifications waits until the document holds n notifications titled
// part and returns them.
func waitNotifications(t *testing.T, ctx context.Context, s *Server, part string, n int) []model.Notification {
	t.Helper()
	for {
		if got := notificationsTitled(t, s, part); len(got) >= n {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %d notification(s) titled %q", n, part)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitHook waits until the webhook received n deliveries titled part.
func waitHook(t *testing.T, ctx context.Context, h *hookServer, part string, n int) {
	t.Helper()
	for h.count(part) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %d webhook deliveries titled %q; got %d", n, part, h.count(part))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitRestarts waits until the engine has started the package's container
// n more times (each start has a new StartedAt).
func waitRestarts(t *testing.T, ctx context.Context, s *Server, id string, n int) {
	t.Helper()
	var last time.Time
	if st, err := s.engine.InspectContainer(ctx, service.ContainerName(id)); err == nil {
		last = st.StartedAt
	}
	for seen := 0; seen < n; {
		st, err := s.engine.InspectContainer(ctx, service.ContainerName(id))
		if err == nil && !st.StartedAt.IsZero() && !st.StartedAt.Equal(last) {
			last = st.StartedAt
			seen++
			continue
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %d restarts of %s", n, id)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestCrashLoopNotifiedOncePerEpisode: a real package whose main process
// exits at once is restarted with backoff; the third crash within the window
// raises one notification, in the document and at a webhook on loopback,
// and later crashes raise no more. Stopping the service ends the episode:
// started again, it crash-loops again and is notified again.
func TestCrashLoopNotifiedOncePerEpisode(t *testing.T) {
	eng := testpkg.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pkg := testpkg.Build(t, eng, testpkg.Options{MainCommand: "fail"})
	id := pkg.Manifest.ID
	s, hook := runWithWebhook(t, ctx, pkg, Config{DataDir: t.TempDir(), Stderr: io.Discard,
		Alerts: Alerts{CrashLoopRestarts: 3, CrashLoopWindow: 10 * time.Minute}})

	const title = "keeps crashing"
	got := waitNotifications(t, ctx, s, title, 1)
	if n := got[0]; n.PackageID != id || n.Level != model.NotificationWarning || !strings.Contains(n.Message, "3 times") ||
		!strings.Contains(n.Message, "something went wrong") {
		t.Fatalf("notification = %+v", n)
	}
	waitHook(t, ctx, hook, title, 1)
	// Two more crashes in the same episode: nothing new.
	waitRestarts(t, ctx, s, id, 2)
	if got := notificationsTitled(t, s, title); len(got) != 1 {
		t.Fatalf("%d crash-loop notifications after more crashes in one episode; want 1", len(got))
	}
	waitStats(t, s, "webhook deliveries settled", func(st model.DeliveryStats) bool { return st.Channel == "webhook" && st.Queued == 0 })
	if n := hook.count(title); n != 1 {
		t.Fatalf("%d crash-loop webhook deliveries in one episode; want 1", n)
	}

	// Stopped by the owner: the episode ends.
	if _, err := s.StopPackage(ctx, model.PackageIDParams{ID: id}); err != nil {
		t.Fatal(err)
	}
	waitDocument(t, ctx, s, "stopped", func(d *model.Document) bool {
		st := d.Public.PackageData[id].StatusInfo
		return st.Desired.Main == model.DesiredStopped && st.Error == nil
	})
	if _, err := s.StartPackage(ctx, model.PackageIDParams{ID: id}); err != nil {
		t.Fatal(err)
	}
	waitNotifications(t, ctx, s, title, 2)
	waitHook(t, ctx, hook, title, 2)
}

// TestFailingHealthCheckNotifiedAfterThreshold: a real package whose health
// check starts failing raises one notification once it has failed for the
// threshold, not before, and no more while it keeps failing; a success ends
// the episode, and the next failure is notified again.
func TestFailingHealthCheckNotifiedAfterThreshold(t *testing.T) {
	eng := testpkg.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pkg := testpkg.Build(t, eng, testpkg.Options{})
	id := pkg.Manifest.ID
	const threshold = 2 * time.Second
	dir := t.TempDir()
	s, hook := runWithWebhook(t, ctx, pkg, Config{DataDir: dir, Stderr: io.Discard, HealthGrace: 200 * time.Millisecond,
		HealthInterval: 300 * time.Millisecond, Alerts: Alerts{HealthFailingFor: threshold}})
	result := func(d *model.Document) model.HealthCheckResult {
		return d.Public.PackageData[id].StatusInfo.Health["web"]
	}
	waitDocument(t, ctx, s, "healthy", func(d *model.Document) bool { return result(d).Result == model.HealthSuccess })

	failFile := filepath.Join(service.VolumePath(dir, id, "main"), "fail-health")
	fail := func(msg string) {
		t.Helper()
		if err := os.WriteFile(failFile, []byte(msg+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	failedAt := time.Now()
	fail("database is corrupt")
	const title = "failing"
	got := waitNotifications(t, ctx, s, title, 1)
	if n := got[0]; n.PackageID != id || !strings.Contains(n.Message, "database is corrupt") || n.CreatedAt.Sub(failedAt) < threshold {
		t.Fatalf("notification %+v, raised %s after the check began failing (threshold %s)", n, n.CreatedAt.Sub(failedAt), threshold)
	}
	waitHook(t, ctx, hook, title, 1)
	// Still failing, with another message: the same episode.
	fail("disk is gone")
	waitDocument(t, ctx, s, "the new failure", func(d *model.Document) bool {
		return strings.Contains(result(d).Message, "disk is gone")
	})
	if got := notificationsTitled(t, s, title); len(got) != 1 {
		t.Fatalf("%d health notifications in one episode; want 1", len(got))
	}
	// Recovery, then a new episode.
	if err := os.Remove(failFile); err != nil {
		t.Fatal(err)
	}
	waitDocument(t, ctx, s, "healthy again", func(d *model.Document) bool { return result(d).Result == model.HealthSuccess })
	fail("broken again")
	got = waitNotifications(t, ctx, s, title, 2)
	if !strings.Contains(got[0].Message, "broken again") {
		t.Fatalf("second episode: %+v", got[0])
	}
	waitHook(t, ctx, hook, title, 2)
}

// TestWatchdogEscalationNotified: a probe that stops succeeding reaches the
// megamiss step, which raises one notification (document and webhook) per
// episode; the probe recovering and failing again is a second episode.
func TestWatchdogEscalationNotified(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hook := newHookServer(t)
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Stderr: io.Discard, Watchdog: watchdog.Config{
		Tick: 20 * time.Millisecond, Miss: 100 * time.Millisecond, Megamiss: 200 * time.Millisecond, Kill: time.Hour,
		DumpsPerHour: -1, Exit: func(int) { t.Error("the watchdog tried to exit") }}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.WebhookAdd(ctx, model.WebhookAddParams{URL: hook.url}); err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	var calls atomic.Int64
	failing.Store(true)
	if err := s.AddProbe("test.stuck", watchdog.Degraded, func(context.Context) error {
		calls.Add(1)
		if failing.Load() {
			return errors.New("stuck")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	const title = "stalled"
	got := waitNotifications(t, ctx, s, title, 1)
	if !strings.Contains(got[0].Message, "test.stuck") || got[0].Level != model.NotificationWarning {
		t.Fatalf("notification = %+v", got[0])
	}
	waitHook(t, ctx, hook, title, 1)
	// The episode goes on for many more checks: nothing new.
	for seen := calls.Load(); calls.Load() < seen+20; {
		select {
		case <-ctx.Done():
			t.Fatal("the probe is not being checked")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got := notificationsTitled(t, s, title); len(got) != 1 {
		t.Fatalf("%d watchdog notifications in one episode; want 1", len(got))
	}
	probe := func() model.ProbeStatus {
		r, _ := s.Watchdog(ctx)
		for _, p := range r.Watchdog.Probes {
			if p.Name == "test.stuck" {
				return p
			}
		}
		return model.ProbeStatus{}
	}
	failing.Store(false)
	for probe().State != "ok" {
		select {
		case <-ctx.Done():
			t.Fatal("the probe never recovered")
		case <-time.After(20 * time.Millisecond):
		}
	}
	failing.Store(true)
	waitNotifications(t, ctx, s, title, 2)
	waitHook(t, ctx, hook, title, 2)
	if p := probe(); p.Megamisses != 2 {
		t.Fatalf("megamisses = %d; want 2", p.Megamisses)
	}
}

// TestDiskAlarmEpisodes drives the disk-full check with an injected stat:
// one notification when the use passes the threshold, none while it stays
// above or dips just below, another after it fell 5 points below.
func TestDiskAlarmEpisodes(t *testing.T) {
	steps := []struct {
		percent float64
		err     error
		want    int // notifications so far
	}{
		{50, nil, 0},
		{90, nil, 0}, // at the threshold is not past it
		{91, nil, 1},
		{99, nil, 1},
		{0, errors.New("statfs: input/output error"), 1},
		{87, nil, 1}, // below, but not by 5 points: the same episode
		{92, nil, 1},
		{84, nil, 1}, // recovered
		{95, nil, 2},
	}
	i := 0
	var raised []model.NotificationInput
	var warned int
	d := &diskAlarm{path: "/data", cfg: Alerts{DiskFullPercent: 90, DiskStat: func(context.Context, string) (DiskUsage, error) {
		st := steps[i]
		// percent of used+available, in whole GiB out of 100
		return DiskUsage{Used: uint64(st.percent) << 30, Available: uint64(100-st.percent) << 30}, st.err
	}}, notify: func(_ context.Context, in model.NotificationInput) { raised = append(raised, in) },
		warn: func(string, ...any) { warned++ }}
	for i = range steps {
		d.check(context.Background())
		if len(raised) != steps[i].want {
			t.Fatalf("step %d (%v%%, err %v): %d notifications; want %d", i, steps[i].percent, steps[i].err, len(raised), steps[i].want)
		}
	}
	if warned != 1 {
		t.Errorf("a failed stat was warned %d times; want 1", warned)
	}
	if n := raised[0]; n.Level != model.NotificationWarning || !strings.Contains(n.Message, "91% full") || !strings.Contains(n.Message, "9.0 GiB free") {
		t.Errorf("notification = %+v", n)
	}
}

// TestStatDiskOnTheDataDir measures a real filesystem, and a missing path
// is an error naming it.
func TestStatDiskOnTheDataDir(t *testing.T) {
	dir := t.TempDir()
	u, err := StatDisk(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.Used+u.Available == 0 || u.Percent() < 0 || u.Percent() > 100 {
		t.Fatalf("usage of %s = %+v (%.1f%%)", dir, u, u.Percent())
	}
	missing := filepath.Join(dir, "missing")
	if _, err := StatDisk(context.Background(), missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing path: %v", err)
	}
}

// TestDiskAlarmThroughTheServer: a full disk (an injected stat) raises the
// notification into the document when the server opens, and Close stops
// the check.
func TestDiskAlarmThroughTheServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var checks atomic.Int64
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Stderr: io.Discard, Alerts: Alerts{DiskCheckEvery: 10 * time.Millisecond,
		DiskStat: func(context.Context, string) (DiskUsage, error) {
			checks.Add(1)
			return DiskUsage{Used: 97, Available: 3}, nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	waitNotifications(t, ctx, s, "Disk almost full", 1)
	for seen := checks.Load(); checks.Load() < seen+5; {
		time.Sleep(10 * time.Millisecond)
	}
	if got := notificationsTitled(t, s, "Disk almost full"); len(got) != 1 {
		t.Fatalf("%d disk notifications in one episode; want 1", len(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after := checks.Load()
	time.Sleep(50 * time.Millisecond) // a stopped timer would have ticked 5 times
	if checks.Load() != after {
		t.Fatal("the disk check ran after Close")
	}
}
