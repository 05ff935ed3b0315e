package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/model"
)

// post sends body to /rpc/v1 as the local administrator (cookie), with the
// given headers, and returns the status and body.
func post(t *testing.T, url, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/rpc/v1", strings.NewReader(body))
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	req.AddCookie(&http.Cookie{Name: rpc.LocalCookie, Value: localCookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func uiDoc(t *testing.T, b *hookBackend) string {
	_, doc := b.DB().Read()
	return string(doc.Public.UI)
}

// TestCrossSiteRequestsRefused: what a browser page on another origin (or a
// rebound name) can send never reaches a method, even with the cookie.
func TestCrossSiteRequestsRefused(t *testing.T) {
	b := newBackend(t)
	srv := b.serve(Options{AllowedHosts: []string{"box.example", ".lan.example"}})
	ts := startServerWith(t, b, srv)
	put := func(v string) string {
		return `{"id":1,"method":"db.put.ui","params":{"pointer":"/x","value":"` + v + `"}}`
	}
	port := ts.httpURL[strings.LastIndex(ts.httpURL, ":"):]
	cases := []struct {
		name    string
		value   string
		headers map[string]string
		status  int
	}{
		{"simple cross-origin form post (text/plain)", "textplain", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403},
		{"text/plain without Origin", "noorigin", map[string]string{"Content-Type": "text/plain"}, 415},
		{"no content type", "nocontent", nil, 415},
		{"JSON from another origin", "evilorigin", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403},
		{"JSON from a loopback page on another port", "otherport", map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:1"}, 403},
		{"Origin null", "nullorigin", map[string]string{"Content-Type": "application/json", "Origin": "null"}, 403},
		{"rebound name in Host", "rebound", map[string]string{"Content-Type": "application/json", "Host": "evil.example" + port}, 403},
		{"rebound name, same-origin", "rebound2", map[string]string{"Content-Type": "application/json", "Host": "evil.example" + port, "Origin": "http://evil.example" + port}, 403},
		{"same origin", "same", map[string]string{"Content-Type": "application/json; charset=utf-8", "Origin": ts.httpURL}, 200},
		{"localhost", "localhost", map[string]string{"Content-Type": "application/json", "Host": "localhost" + port, "Origin": "http://localhost" + port}, 200},
		{"configured name", "configured", map[string]string{"Content-Type": "application/json", "Host": "BOX.example." + port}, 200},
		{"configured subdomain", "sub", map[string]string{"Content-Type": "application/json", "Host": "a.lan.example" + port}, 200},
		{"configured origin", "corigin", map[string]string{"Content-Type": "application/json", "Origin": "https://box.example"}, 200},
	}
	for _, c := range cases {
		status, body := post(t, ts.httpURL, put(c.value), c.headers)
		applied := strings.Contains(uiDoc(t, b), c.value)
		if status != c.status || applied != (c.status == 200) {
			t.Errorf("%s: status %d (want %d), applied %v: %s", c.name, status, c.status, applied, body)
		}
	}

	// The WebSocket upgrade: a foreign Host is refused before Accept.
	for _, c := range []struct {
		host, origin string
		status       int
	}{
		{"evil.example" + port, "", 403},
		{"127.0.0.1" + port, "http://evil.example", 403},
		{"127.0.0.1" + port, "http://127.0.0.1:1", 403},
		{"127.0.0.1" + port, "", 101},
		{"127.0.0.1" + port, "https://box.example", 101},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h := http.Header{"Cookie": {"local=" + localCookie}}
		if c.origin != "" {
			h.Set("Origin", c.origin)
		}
		conn, resp, err := websocket.Dial(ctx, ts.wsURL, &websocket.DialOptions{Host: c.host, HTTPHeader: h})
		cancel()
		if resp == nil || resp.StatusCode != c.status {
			t.Errorf("upgrade with Host %s, Origin %q: %v %v, want %d", c.host, c.origin, resp, err, c.status)
		}
		if conn != nil {
			conn.CloseNow()
		}
	}
}

// startServerWith is startServer for a Server built by the test.
func startServerWith(t *testing.T, b *hookBackend, srv *Server) *testServer {
	t.Helper()
	hs := &http.Server{Handler: srv.Handler()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(l)
	cookie, err := os.ReadFile(filepath.Join(b.RunDir(), "rpc.authcookie"))
	if err != nil {
		t.Fatal(err)
	}
	localCookie = string(cookie)
	u := "http://" + l.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		srv.Shutdown(ctx)
	})
	return &testServer{srv: srv, httpURL: u, wsURL: "ws" + strings.TrimPrefix(u, "http") + "/ws/rpc", cookie: localCookie}
}

// TestParamNamesAreCaseSensitive: encoding/json would fill "password" from
// "Password"; the dispatcher refuses it and names the right spelling.
func TestParamNamesAreCaseSensitive(t *testing.T) {
	ts := startServer(t, newBackend(t))
	for _, c := range []struct{ body, want string }{
		{`{"id":1,"method":"echo","params":{"Message":"hi"}}`, `names are case-sensitive; did you mean \"message\"`},
		{`{"id":1,"method":"echo","params":{"message":"hi","MESSAGE":"x"}}`, `unknown param \"MESSAGE\"`},
		{`{"id":1,"method":"echo","params":{"message":"hi"}}`, `"result":"hi"`},
	} {
		_, _, got := postRaw(t, ts.httpURL, c.body)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: %s, want %s", c.body, got, c.want)
		}
	}
}

// TestLoginTokenOnlyOnTheSocket: over HTTP the token is only in the
// HttpOnly cookie, over WebSocket nowhere; the unix socket gets it.
func TestLoginTokenOnlyOnTheSocket(t *testing.T) {
	b := newBackend(t)
	ts := startServer(t, b)
	setup(t, ts)
	login := `{"id":1,"method":"auth.login","params":{"password":"` + ownerPassword + `","ephemeral":true}}`

	req, _ := http.NewRequest(http.MethodPost, ts.httpURL+"/rpc/v1", strings.NewReader(login))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var token string
	for _, c := range resp.Cookies() {
		if c.Name == rpc.SessionCookie {
			token = c.Value
		}
	}
	if token == "" || !strings.Contains(string(body), `"result"`) {
		t.Fatalf("login over HTTP: cookie %q, body %s", token, body)
	}
	if strings.Contains(string(body), token) || strings.Contains(string(body), `"session"`) {
		t.Fatalf("login body over HTTP carries the token: %s", body)
	}

	ws := dialWS(t, ts.wsURL)
	defer ws.close()
	ws.send(t, login)
	if got := ws.recv(t); !strings.Contains(got, `"result"`) || strings.Contains(got, `"session"`) {
		t.Fatalf("login over WebSocket: %s", got)
	}

	sock := dialUnix(t, ts.sock)
	defer sock.close()
	sock.send(t, login)
	var lr struct {
		Result model.LoginResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(sock.recv(t)), &lr); err != nil || lr.Result.Session == "" {
		t.Fatalf("login over the unix socket: %+v %v", lr, err)
	}
}

// netnsWithAddr creates a network namespace whose lo also holds the
// documentation address 192.0.2.1: a client there connecting to it comes
// from a non-loopback address, and no packet leaves the namespace.
func netnsWithAddr(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("startos-test-%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s (this test needs root and iproute2)", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run("-n", name, "link", "set", "lo", "up")
	run("-n", name, "addr", "add", "192.0.2.1/32", "dev", "lo")
	return "/run/netns/" + name
}

// inNetns runs fn on an OS thread that has entered the namespace; sockets
// created there stay in it. The thread is never unlocked, so it ends with
// the goroutine instead of returning to the pool inside the namespace.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// TestSetupNeedsCodeFromTheNetwork: setup from a non-loopback address is
// refused without the setup code (or with a wrong one) and accepted with it.
func TestSetupNeedsCodeFromTheNetwork(t *testing.T) {
	b := newBackend(t)
	ns := netnsWithAddr(t)
	var l net.Listener
	if err := inNetns(ns, func() (err error) {
		l, err = net.Listen("tcp", "192.0.2.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := b.serve(Options{})
	hs := NewHTTPServer(srv.Handler(), nil)
	go hs.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		srv.Shutdown(ctx)
	})
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = inNetns(ns, func() error {
			c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}}
	c, err := rpc.Dial(context.Background(), "http://"+l.Addr().String(), rpc.ClientOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var echoed string
	if err := c.Call(ctx, "echo", model.EchoParams{Message: "from the lan"}, &echoed); err != nil {
		t.Fatalf("echo from the namespace: %v", err)
	}

	setupCode := b.SetupCode()
	fileCode, err := os.ReadFile(filepath.Join(b.RunDir(), startos.SetupCodeFile))
	if err != nil || strings.TrimSpace(string(fileCode)) != setupCode || setupCode == "" {
		t.Fatalf("setup code %q, file %q %v", setupCode, fileCode, err)
	}
	if fi, _ := os.Stat(filepath.Join(b.RunDir(), startos.SetupCodeFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("setup code file mode %v", fi.Mode())
	}
	for _, try := range []string{"", "AAAAA-AAAAA"} {
		err := c.Call(ctx, "setup.execute", model.SetupParams{Password: ownerPassword, SetupCode: try}, nil)
		if code(err) != rpc.CodeUnauthorized {
			t.Fatalf("setup from 192.0.2.1 with code %q: %v, want 34", try, err)
		}
	}
	var st model.SetupStatus
	if err := c.Call(ctx, "setup.status", nil, &st); err != nil || st.Status != model.SetupIncomplete {
		t.Fatalf("status after refused setups: %+v %v", st, err)
	}
	if err := c.Call(ctx, "setup.execute", model.SetupParams{Password: ownerPassword, SetupCode: strings.ToLower(setupCode)}, nil); err != nil {
		t.Fatalf("setup with the code: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.RunDir(), startos.SetupCodeFile)); !os.IsNotExist(err) {
		t.Fatalf("setup code file left after setup: %v", err)
	}
}

func TestHostPolicy(t *testing.T) {
	p := newHostPolicy([]string{"Box.Example", ".lan.example"}, func() []string { return []string{"mybox", "MyBox.local"} })
	hostname, _ := os.Hostname()
	for _, c := range []struct {
		host string
		want bool
	}{
		{"127.0.0.1:5959", true}, {"[::1]:5959", true}, {"[::1]", true}, {"192.168.1.5", true},
		{"localhost", true}, {"app.localhost:8080", true}, {strings.ToUpper(hostname), true}, {hostname + ".local:5959", true},
		{"box.example", true}, {"box.example.", true}, {"x.lan.example", true}, {"lan.example", false},
		{"evil.example", false}, {"box.example.evil", false}, {"", false}, {"localhost.evil", false},
		{"mybox.local:443", true}, {"mybox", true}, {"x.mybox.local", false},
	} {
		if got := p.hostAllowed(c.host); got != c.want {
			t.Errorf("hostAllowed(%q) = %v", c.host, got)
		}
	}
	for _, c := range []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:5959", "127.0.0.1:5959", true},
		{"https://box.example", "127.0.0.1:5959", true},
		{"http://127.0.0.1:8080", "127.0.0.1:5959", false},
		{"null", "127.0.0.1:5959", false},
		{"file://", "127.0.0.1:5959", false},
		{"chrome-extension://abc", "127.0.0.1:5959", false},
		{"http://localhost:5959", "127.0.0.1:5959", false},
	} {
		if got := p.originAllowed(c.origin, c.host); got != c.want {
			t.Errorf("originAllowed(%q, %q) = %v", c.origin, c.host, got)
		}
	}
	if lim := DefaultConnLimits(); lim.Total < 16 || lim.PerClient < 4 || lim.PerClient > lim.Total {
		t.Errorf("DefaultConnLimits() = %+v", lim)
	}
}
