package live

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/startos-go/startos/internal/testdaemon"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// daemon is the real library behind a real RPC server on a socket and HTTP.
type daemon = testdaemon.Daemon

func startDaemon(t *testing.T, dir string) *daemon { return testdaemon.Start(t, dir) }

func fastBackoff(int) time.Duration { return 50 * time.Millisecond }

// seen folds what a box delivered.
type seen struct {
	conn     ConnState
	phases   []Phase
	state    *State
	clock    *ServerClock
	metrics  int
	watchdog *WatchdogReport
	logs     []model.LogEntry
	logSrc   string
	logErr   error
	upload   *UploadProgress
}

func (s *seen) fold(u Update) {
	if u.Conn != nil {
		s.conn = *u.Conn
		s.phases = append(s.phases, u.Conn.Phase)
	}
	if u.State != nil {
		s.state = u.State
	}
	if u.Clock != nil {
		s.clock = u.Clock
	}
	s.metrics += len(u.Metrics)
	if u.Watchdog != nil {
		s.watchdog = u.Watchdog
	}
	if l := u.Logs; l != nil {
		if l.Reset || l.Source != s.logSrc {
			s.logs = nil
		}
		s.logSrc, s.logErr = l.Source, l.Err
		s.logs = append(s.logs, l.Entries...)
	}
	if u.Upload != nil {
		s.upload = u.Upload
	}
}

// waitFor takes updates from b until cond holds.
func waitFor(t *testing.T, b *Box, s *seen, what string, cond func(*seen) bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		s.fold(b.Take())
		if cond(s) {
			return
		}
		select {
		case <-b.Wake():
		case <-deadline:
			t.Fatalf("timed out waiting for %s; connection %v (%v)", what, s.conn.Phase, s.conn.Err)
		}
	}
}

func openBox(t *testing.T, opts Options) *Box {
	t.Helper()
	if opts.Backoff == nil {
		opts.Backoff = fastBackoff
	}
	b, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func connected(s *seen) bool { return s.conn.Phase == Connected && s.state != nil }

func TestFollowsTheBoxOverTheSocket(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	b := openBox(t, Options{Target: "unix://" + d.Sock, LogLimit: 20})
	var s seen
	waitFor(t, b, &s, "connected with a state", connected)
	if s.state.Doc.ServerInfo.Version == "" || s.state.Rev == 0 {
		t.Fatalf("state %+v", s.state.Doc.ServerInfo)
	}
	if s.clock == nil || time.Since(s.clock.Time.Now) > time.Minute {
		t.Fatalf("clock %+v", s.clock)
	}
	if s.phases[0] != Connecting {
		t.Fatalf("phases %v", s.phases)
	}

	// A change made by someone else arrives as a new revision.
	ctx := context.Background()
	other, err := rpc.Dial(ctx, "unix://"+d.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rev := s.state.Rev
	if err := other.Call(ctx, "notification.create", model.NotificationInput{Level: model.NotificationInfo, Title: "hi", Message: "from the test"}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, &s, "the unread count", func(s *seen) bool { return s.state.Doc.ServerInfo.UnreadNotificationCount == 1 })
	if s.state.Rev <= rev {
		t.Fatalf("revision %d after %d", s.state.Rev, rev)
	}

	// The daemon's log: recent entries, then new ones as they are written.
	waitFor(t, b, &s, "the first log page", func(s *seen) bool { return len(s.logs) > 0 })
	d.Lib.Logger().Info("tui live test marker")
	waitFor(t, b, &s, "the marker line", func(s *seen) bool {
		for _, e := range s.logs {
			if strings.Contains(e.Message, "tui live test marker") {
				return true
			}
		}
		return false
	})

	// Metrics arrive from their stream; the watchdog is reported as the
	// daemon has it, or not.
	waitFor(t, b, &s, "a metrics sample", func(s *seen) bool { return s.metrics > 0 && s.watchdog != nil })
	var rep model.WatchdogReport
	werr := other.Call(ctx, "server.watchdog", nil, &rep)
	var re *rpc.Error
	absent := errors.As(werr, &re) && re.Code == rpc.CodeMethodNotFound
	if s.watchdog.Supported == absent {
		t.Fatalf("watchdog supported=%v, but server.watchdog answered %v", s.watchdog.Supported, werr)
	}
	// The box decodes the real answer: the same probes the daemon lists.
	if werr == nil {
		if len(rep.Watchdog.Probes) == 0 || len(s.watchdog.Status.Probes) != len(rep.Watchdog.Probes) {
			t.Fatalf("the box shows %d probes, server.watchdog lists %d", len(s.watchdog.Status.Probes), len(rep.Watchdog.Probes))
		}
	}

	// Calls go over the live connection.
	var echo string
	if err := b.Call(ctx, "echo", model.EchoParams{Message: "through the box"}, &echo); err != nil || echo != "through the box" {
		t.Fatalf("echo %q %v", echo, err)
	}

	// A package's log is package.logs.follow; whatever the daemon says of
	// it is reported for that source.
	b.FollowLogs("no-such-package")
	waitFor(t, b, &s, "the package log", func(s *seen) bool { return s.logSrc == "no-such-package" && (s.logErr != nil || len(s.logs) > 0) })
	if s.logErr == nil {
		t.Fatalf("logs of a package that does not exist: %v", s.logs)
	}
	b.FollowLogs("")
	waitFor(t, b, &s, "the daemon log again", func(s *seen) bool { return s.logSrc == "" && len(s.logs) > 0 })
}

func TestReconnectsWhenTheDaemonComesBack(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir)
	b := openBox(t, Options{Target: "unix://" + d.Sock})
	var s seen
	waitFor(t, b, &s, "connected", connected)
	before := s.state.Rev

	d.Stop()
	waitFor(t, b, &s, "disconnected", func(s *seen) bool { return s.conn.Phase == Disconnected })
	if s.conn.Err == nil || s.conn.RetryAt.IsZero() {
		t.Fatalf("disconnected without a reason or a retry time: %+v", s.conn)
	}
	if err := b.Call(context.Background(), "echo", model.EchoParams{Message: "x"}, nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("call while disconnected: %v", err)
	}

	d2 := startDaemon(t, dir)
	s.state = nil
	waitFor(t, b, &s, "reconnected with a fresh state", connected)
	if s.state.Rev < before {
		t.Fatalf("revision went back: %d < %d", s.state.Rev, before)
	}
	// The new subscription is live.
	if err := b.Call(context.Background(), "db.put.ui", model.PutUIParams{Pointer: "/tuiTest", Value: json.RawMessage(`"back"`)}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, &s, "the change after reconnecting", func(s *seen) bool { return strings.Contains(string(s.state.Doc.UI), `"tuiTest":"back"`) })
	_ = d2
}

func TestRemoteLoginKeepsTheSessionInTheJar(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	ctx := context.Background()
	setup, err := rpc.Dial(ctx, d.HTTP, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	if err := setup.Call(ctx, "setup.execute", model.SetupParams{Password: "correct horse"}, nil); err != nil {
		t.Fatal(err)
	}

	jarPath := filepath.Join(t.TempDir(), ".startos", "cookies.json")
	b := openBox(t, Options{Target: d.HTTP, HTTPClient: &http.Client{Jar: &FileJar{Path: jarPath}}})
	var s seen
	waitFor(t, b, &s, "a login request", func(s *seen) bool { return s.conn.Phase == NeedLogin })
	if !errors.Is(s.conn.Err, ErrNeedLogin) || !s.conn.Remote {
		t.Fatalf("need login: %+v", s.conn)
	}
	err = b.Login(ctx, "wrong horse")
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeIncorrectPassword {
		t.Fatalf("wrong password: %v", err)
	}
	if err := b.Login(ctx, "correct horse"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, &s, "connected after login", connected)

	// The jar is start-cli's: per host, mode 0600.
	fi, err := os.Stat(jarPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("jar %v %v", fi, err)
	}
	raw, _ := os.ReadFile(jarPath)
	var jar map[string][]rpc.JarEntry
	if err := json.Unmarshal(raw, &jar); err != nil {
		t.Fatalf("jar is not start-cli's format: %v\n%s", err, raw)
	}
	host := strings.TrimPrefix(d.HTTP, "http://")
	if len(jar[host]) != 1 || jar[host][0].Name != "session" || jar[host][0].Value == "" || jar[host][0].Expires.Before(time.Now().Add(24*time.Hour)) {
		t.Fatalf("jar %s", raw)
	}

	// A second console with the same jar needs no login.
	b2 := openBox(t, Options{Target: d.HTTP, HTTPClient: &http.Client{Jar: &FileJar{Path: jarPath}}})
	var s2 seen
	waitFor(t, b2, &s2, "the second console connected", connected)
	for _, p := range s2.phases {
		if p == NeedLogin {
			t.Fatal("the second console asked for a login")
		}
	}

	// Killing the session ends the connection; the console asks again.
	var list model.SessionList
	if err := b.Call(ctx, "auth.session.list", nil, &list); err != nil || list.Current == "" {
		t.Fatalf("session list %+v %v", list, err)
	}
	// The connection carrying the call may close before its reply.
	if err := b.Call(ctx, "auth.session.kill", model.SessionKillParams{IDs: []string{list.Current}}, nil); err != nil && !strings.Contains(err.Error(), "closed") {
		t.Fatal(err)
	}
	waitFor(t, b, &s, "a login request after the kill", func(s *seen) bool { return s.conn.Phase == NeedLogin })
	waitFor(t, b2, &s2, "a login request after the kill", func(s *seen) bool { return s.conn.Phase == NeedLogin })
}

func TestLoginOnTheSocketIsRefused(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	b := openBox(t, Options{Target: "unix://" + d.Sock})
	if err := b.Login(context.Background(), "pw"); err == nil || !strings.Contains(err.Error(), "needs no login") {
		t.Fatalf("login on the socket: %v", err)
	}
	if b.Remote() {
		t.Fatal("the socket counts as remote")
	}
}

func TestOpenRefusesBadTargets(t *testing.T) {
	for _, tgt := range []string{"", "ftp://x", "/run/startos/rpc.sock", "ws://127.0.0.1:5959"} {
		if _, err := Open(Options{Target: tgt}); err == nil || !strings.Contains(err.Error(), "want unix://") {
			t.Errorf("target %q: %v", tgt, err)
		}
	}
}

// TestUpload sends files through the box's connection to a real daemon:
// over the unix socket, the bytes go by HTTP on the same socket.
func TestUpload(t *testing.T) {
	// Offline: nothing to send through.
	off := openBox(t, Options{Target: "unix://" + filepath.Join(t.TempDir(), "absent.sock"), Backoff: fastBackoff})
	data := []byte(strings.Repeat("s9pk bytes ", 50000)) // ~550 KB: several progress reports
	file := filepath.Join(t.TempDir(), "hello.s9pk")
	os.WriteFile(file, data, 0o600)
	if err := off.Upload(context.Background(), "up-1", file); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("upload while offline: %v", err)
	}

	d := startDaemon(t, t.TempDir())
	b := openBox(t, Options{Target: "unix://" + d.Sock, Backoff: fastBackoff})
	var s seen
	waitFor(t, b, &s, "connected", connected)
	ctx := context.Background()
	var res model.SideloadResult
	if err := b.Call(ctx, "package.sideload", model.Empty{}, &res); err != nil || res.Upload == "" {
		t.Fatalf("package.sideload: %+v %v", res, err)
	}
	// Not a package: the daemon reads it, refuses it, and says why.
	err := b.Upload(ctx, res.Upload, file)
	if err == nil || !strings.Contains(err.Error(), "hello.s9pk") {
		t.Fatalf("a file that is not a package: %v", err)
	}
	var rerr *rpc.Error
	if !errors.As(err, &rerr) {
		t.Fatalf("the daemon's refusal is not an RPC error: %v", err)
	}
	waitFor(t, b, &s, "the failure published", func(s *seen) bool { return s.upload != nil && s.upload.Err != nil })
	if s.upload.Sent == 0 && s.upload.Total == 0 && !s.upload.Done {
		t.Fatalf("upload progress %+v", s.upload)
	}
	// A used id is not taken again.
	if err := b.Upload(ctx, res.Upload, file); err == nil {
		t.Fatal("a one-shot id was accepted twice")
	}
	if err := b.Upload(ctx, "x", filepath.Join(t.TempDir(), "missing.s9pk")); err == nil || !strings.Contains(err.Error(), "missing.s9pk") {
		t.Fatalf("missing file: %v", err)
	}
	if err := b.Upload(ctx, "x", t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a folder: %v", err)
	}
	if err := b.Upload(ctx, "", file); err == nil || !strings.Contains(err.Error(), "no upload id") {
		t.Fatalf("no id: %v", err)
	}
}

func TestFileJar(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "cookies.json")
	j := &FileJar{Path: path}
	u := mustURL(t, "http://127.0.0.1:5959/rpc/v1")
	other := mustURL(t, "http://127.0.0.1:6000/")
	j.SetCookies(u, []*http.Cookie{{Name: "session", Value: "a", MaxAge: 3600}, {Name: "short", Value: "b", Expires: time.Now().Add(-time.Minute)}})
	j.SetCookies(other, []*http.Cookie{{Name: "session", Value: "z"}})
	if cs := j.Cookies(u); len(cs) != 1 || cs[0].Value != "a" {
		t.Fatalf("cookies %v", cs)
	}
	if cs := j.Cookies(mustURL(t, "ws://127.0.0.1:5959/ws/rpc")); len(cs) != 1 {
		t.Fatalf("ws:// shares the host's cookies: %v", cs)
	}
	j.SetCookies(u, []*http.Cookie{{Name: "session", Value: "a2"}})
	if cs := j.Cookies(u); len(cs) != 1 || cs[0].Value != "a2" {
		t.Fatalf("replaced cookie %v", cs)
	}
	j.SetCookies(u, []*http.Cookie{{Name: "session", MaxAge: -1}})
	if cs := j.Cookies(u); len(cs) != 0 {
		t.Fatalf("cleared cookie %v", cs)
	}
	if cs := j.Cookies(other); len(cs) != 1 || cs[0].Value != "z" {
		t.Fatalf("another host's cookie was touched: %v", cs)
	}
	// An expired entry on disk is not sent.
	os.WriteFile(path, []byte(`{"127.0.0.1:5959":[{"name":"session","value":"old","expires":"2001-01-01T00:00:00Z"}]}`), 0o600)
	if cs := j.Cookies(u); len(cs) != 0 {
		t.Fatalf("expired cookie sent: %v", cs)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	// A jar that cannot be written says so through OnError.
	var saveErr error
	bad := &FileJar{Path: filepath.Join(path, "not-a-dir", "cookies.json"), OnError: func(err error) { saveErr = err }}
	bad.SetCookies(u, []*http.Cookie{{Name: "session", Value: "x"}})
	if saveErr == nil {
		t.Fatal("a failed save was not reported")
	}
}

func TestUpdateMerge(t *testing.T) {
	var u Update
	u.merge(Update{Logs: &LogBatch{Source: "", Reset: true, Entries: make([]model.LogEntry, 3)}})
	u.merge(Update{Logs: &LogBatch{Source: "", Entries: make([]model.LogEntry, 2), Dropped: 1}})
	if len(u.Logs.Entries) != 5 || !u.Logs.Reset || u.Logs.Dropped != 1 {
		t.Fatalf("appended logs %+v", u.Logs)
	}
	u.merge(Update{Logs: &LogBatch{Source: "pkg", Entries: make([]model.LogEntry, 1)}})
	if len(u.Logs.Entries) != 1 || u.Logs.Source != "pkg" {
		t.Fatalf("a new source replaces: %+v", u.Logs)
	}
	u.merge(Update{Logs: &LogBatch{Source: "pkg", Entries: make([]model.LogEntry, maxPendingLogs+10)}})
	if len(u.Logs.Entries) != maxPendingLogs || u.Logs.Dropped != 11 {
		t.Fatalf("bounded logs: %d entries, %d dropped", len(u.Logs.Entries), u.Logs.Dropped)
	}
	for range maxPendingMetrics + 5 {
		u.merge(Update{Metrics: []model.Metrics{{}}})
	}
	if len(u.Metrics) != maxPendingMetrics {
		t.Fatalf("bounded metrics: %d", len(u.Metrics))
	}
	s1, s2 := &State{Rev: 1}, &State{Rev: 2}
	u.merge(Update{State: s1})
	u.merge(Update{State: s2, Conn: &ConnState{Phase: Connected}})
	if u.State != s2 || u.Conn.Phase != Connected || u.Empty() {
		t.Fatal("latest state wins")
	}
	if !(Update{}).Empty() {
		t.Fatal("an empty update is not empty")
	}
}

func TestDecodeManifests(t *testing.T) {
	doc := []byte(`{"serverInfo":{"name":"box"},"packageData":{
		"a":{"stateInfo":{"state":"installed","manifest":{"id":"a","title":"Alpha","version":"1.0.0","actions":{"x":{"name":"X","inputSpec":{"f":{"type":"string"}}},"y":{"name":"Why"}},"interfaces":{"main":{"name":"Main","lanConfig":{"8080":{"ssl":false,"internal":"80"}}}}}},"statusInfo":{"desired":{"main":"stopped"}}},
		"b":{"stateInfo":{"state":"installing","installingInfo":{"newManifest":{"title":"Beta","version":"2.0.0","healthChecks":"not an object"},"progress":{"overall":null,"phases":[]}}},"statusInfo":{"desired":{"main":"stopped"}}},
		"c":{"stateInfo":{"state":"installed"},"statusInfo":{"desired":{"main":"stopped"}}}}}`)
	st, cache, err := decodeState(3, doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := st.Manifests["a"], st.Manifests["b"], st.Manifests["c"]
	if a.Title != "Alpha" || !a.Actions["x"].HasInput() || a.Actions["y"].HasInput() || a.Interfaces["main"].Name != "Main" {
		t.Fatalf("a: %+v", a)
	}
	if got := a.ActionIDs(); len(got) != 2 || got[0] != "y" { // by name: "Why" before "X"
		t.Fatalf("action order %v", got)
	}
	if b.Title != "Beta" || b.Version != "2.0.0" || b.ID != "b" {
		t.Fatalf("an odd key lost the rest: %+v", b)
	}
	if c.ID != "c" || c.Title != "" {
		t.Fatalf("no manifest: %+v", c)
	}
	st2, _, err := decodeState(4, doc, cache)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Manifests["a"] != a {
		t.Fatal("an unchanged manifest was decoded again")
	}
	var dec Decoder
	d1, _ := dec.Decode(1, doc)
	d2, _ := dec.Decode(2, doc)
	if d1.Manifests["a"] != d2.Manifests["a"] || d2.Rev != 2 {
		t.Fatal("the Decoder does not reuse unchanged manifests")
	}
	if _, err := DecodeState(5, []byte(`{"packageData":[]}`)); err == nil || !strings.Contains(err.Error(), "revision 5") {
		t.Fatalf("bad document: %v", err)
	}
}

func TestDefaultBackoff(t *testing.T) {
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := DefaultBackoff(i); got != w {
			t.Errorf("attempt %d: %s, want %s", i, got, w)
		}
	}
	if DefaultBackoff(1000) != 10*time.Second {
		t.Error("a large attempt overflows")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPackageLogLines: a package's entries carry the stream, not a level.
func TestPackageLogLines(t *testing.T) {
	for raw, want := range map[string]string{
		`{"timestamp":"2026-01-01T00:00:00Z","stream":"stderr","message":"boom","cursor":"1"}`: "stderr",
		`{"timestamp":"2026-01-01T00:00:00Z","stream":"stdout","message":"ok","cursor":"2"}`:   "",
		`{"timestamp":"2026-01-01T00:00:00Z","level":"warn","message":"daemon","cursor":"3"}`:  "warn",
	} {
		var l logLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatal(err)
		}
		if e := l.entry(); e.Level != want || e.Message == "" || e.Cursor == "" || e.Timestamp.IsZero() {
			t.Errorf("%s: %+v", raw, e)
		}
	}
	if m, p := LogMethod("hello", 10); m != "package.logs.follow" || p.(packageLogsParams) != (packageLogsParams{ID: "hello", Limit: 10}) {
		t.Errorf("package logs: %s %+v", m, p)
	}
	if m, _ := LogMethod("", 10); m != "server.logs.follow" {
		t.Errorf("daemon logs: %s", m)
	}
}

// TestSetupOnABoxWithNoOwner: a remote box with no owner says so, and Setup
// gives it one and connects with that password.
func TestSetupOnABoxWithNoOwner(t *testing.T) {
	d := startDaemon(t, t.TempDir())
	ctx := context.Background()
	b := openBox(t, Options{Target: d.HTTP, HTTPClient: &http.Client{Jar: &FileJar{Path: filepath.Join(t.TempDir(), "cookies.json")}}})
	var s seen
	waitFor(t, b, &s, "a login request", func(s *seen) bool { return s.conn.Phase == NeedLogin })
	if st, err := b.SetupStatus(ctx); err != nil || st != model.SetupIncomplete {
		t.Fatalf("setup status %q %v", st, err)
	}
	if err := b.Setup(ctx, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, &s, "connected after setup", connected)
	if st, err := b.SetupStatus(ctx); err != nil || st != model.SetupComplete {
		t.Fatalf("after setup: %q %v", st, err)
	}
}
