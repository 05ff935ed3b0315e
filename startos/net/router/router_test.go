package router

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/startos-go/startos/startos/net/ca"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	t       *testing.T
	ca      *ca.CA
	r       *Router
	tlsAddr string
	plain   string
	backend *httptest.Server
	running map[string]bool
}

const (
	appName = "main-app-box.local"
	boxName = "box.local"
)

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	authority, err := ca.Open(ca.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ca: authority, running: map[string]bool{"app": true}}
	f.backend = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			typ, b, err := c.Read(r.Context())
			if err == nil {
				c.Write(r.Context(), typ, append([]byte("echo "), b...))
			}
			return
		}
		fmt.Fprintf(w, "app host=%s xff=%s proto=%s", r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(f.backend.Close)
	backendAddr := f.backend.Listener.Addr().String()
	o.Certificate = authority.Certificate
	o.Resolve = func(_ context.Context, pkg string, _ uint16) (string, error) {
		if !f.running[pkg] {
			return "", &Unavailable{Package: pkg, Status: "stopped"}
		}
		return backendAddr, nil
	}
	o.Box = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "box surface") })
	o.ForwardHost = "127.0.0.1"
	f.r = New(o)
	tl, _ := net.Listen("tcp", "127.0.0.1:0")
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	f.tlsAddr, f.plain = tl.Addr().String(), pl.Addr().String()
	go f.r.ServeTLS(tl)
	go f.r.ServeHTTP(pl)
	t.Cleanup(func() { f.r.Close() })
	if err := f.r.SetTable(Table{Box: []string{boxName}, Routes: []Route{
		{Name: appName, Package: "app", Title: "The App", Interface: "main", Port: 80},
		{Name: "main-down-box.local", Package: "down", Title: "Down Service", Interface: "main", Port: 80, Plain: true},
	}}); err != nil {
		t.Fatal(err)
	}
	return f
}

// client dials the router's TLS listener whatever the URL's host, trusting
// only the box's root.
func (f *fixture) client(h2 bool) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: f.ca.Pool()},
		ForceAttemptHTTP2: h2,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			if strings.HasSuffix(addr, ":443") {
				addr = f.tlsAddr
			} else {
				addr = f.plain
			}
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
	}
	f.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRoutesBySNIAndHost(t *testing.T) {
	f := newFixture(t, Options{})
	for _, h2 := range []bool{false, true} {
		resp, body := get(t, f.client(h2), "https://"+appName+"/")
		if resp.StatusCode != 200 || !strings.Contains(body, "host="+appName) || !strings.Contains(body, "xff=127.0.0.1") || !strings.Contains(body, "proto=https") {
			t.Fatalf("h2=%v: %d %q", h2, resp.StatusCode, body)
		}
		if h2 && resp.ProtoMajor != 2 {
			t.Errorf("HTTP/2 not negotiated: %s", resp.Proto)
		}
		if len(resp.TLS.PeerCertificates) != 2 || resp.TLS.PeerCertificates[0].DNSNames[0] != appName {
			t.Errorf("chain: %d certs, SANs %v", len(resp.TLS.PeerCertificates), resp.TLS.PeerCertificates[0].DNSNames)
		}
	}
	if _, body := get(t, f.client(false), "https://"+boxName+"/rpc/v1"); body != "box surface" {
		t.Errorf("box name: %q", body)
	}
}

func TestBadNamesRefused(t *testing.T) {
	f := newFixture(t, Options{})
	// Unknown SNI: a TLS alert, nothing forwarded.
	conn, err := tls.Dial("tcp", f.tlsAddr, &tls.Config{ServerName: "evil.local", RootCAs: f.ca.Pool()})
	if err == nil {
		conn.Close()
		t.Fatal("handshake for an unknown name succeeded")
	}
	if !strings.Contains(err.Error(), "remote error: tls") {
		t.Errorf("want a TLS alert, got %v", err)
	}
	// No SNI at all.
	if conn, err := tls.Dial("tcp", f.tlsAddr, &tls.Config{InsecureSkipVerify: true}); err == nil {
		conn.Close()
		t.Fatal("handshake without SNI succeeded")
	}
	// Host naming another site than SNI: 421.
	c := f.client(false)
	req, _ := http.NewRequest("GET", "https://"+appName+"/", nil)
	req.Host = "main-down-box.local"
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("Host/SNI mismatch: %v %v", resp, err)
	}
	resp.Body.Close()
	// Unknown Host in plain HTTP: 421.
	if resp, _ := get(t, c, "http://nobody.local/"); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("unknown plain Host: %d", resp.StatusCode)
	}
}

func TestPlainRedirectsUnlessAllowed(t *testing.T) {
	f := newFixture(t, Options{HTTPSPort: 8443})
	c := f.client(false)
	resp, _ := get(t, c, "http://"+appName+"/x?y=1")
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://"+appName+":8443/x?y=1" {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get(t, c, "http://"+boxName+"/")
	if resp.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("box over plain HTTP: %d", resp.StatusCode)
	}
}

func TestStoppedServiceGets502Page(t *testing.T) {
	f := newFixture(t, Options{})
	resp, body := get(t, f.client(false), "https://main-down-box.local/")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "Down Service") || !strings.Contains(body, "stopped") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	// Plain allowed: same page over HTTP.
	resp, body = get(t, f.client(false), "http://main-down-box.local/")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "Down Service") {
		t.Fatalf("plain: %d %q", resp.StatusCode, body)
	}
}

func TestWebSocketPassesThrough(t *testing.T) {
	f := newFixture(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss://"+appName+"/ws", &websocket.DialOptions{HTTPClient: f.client(false)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, b, err := c.Read(ctx)
	if err != nil || string(b) != "echo hi" {
		t.Fatalf("%q %v", b, err)
	}
}

func TestConnectionsPerClientBounded(t *testing.T) {
	f := newFixture(t, Options{MaxConnsPerClient: 3})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", f.plain)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Each of the three is admitted once the router has accepted it.
	deadline := time.Now().Add(10 * time.Second)
	for f.r.limiter.clients("127.0.0.1") < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the three connections were never accepted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	extra, err := net.Dial("tcp", f.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(extra, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", appName)
	if _, err := bufio.NewReader(extra).ReadString('\n'); err == nil {
		t.Fatal("a fourth connection from the same client was served")
	}
	// The held ones still work.
	fmt.Fprintf(conns[0], "GET / HTTP/1.1\r\nHost: main-down-box.local\r\n\r\n")
	conns[0].SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conns[0]).ReadString('\n')
	if err != nil || !strings.Contains(line, "502") {
		t.Fatalf("held connection: %q %v", line, err)
	}
}

func TestTCPForward(t *testing.T) {
	f := newFixture(t, Options{})
	echo, _ := net.Listen("tcp", "127.0.0.1:0")
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	probe, _ := net.Listen("tcp", "127.0.0.1:0")
	port := uint16(probe.Addr().(*net.TCPAddr).Port)
	probe.Close()
	f.r.o.Resolve = func(context.Context, string, uint16) (string, error) { return echo.Addr().String(), nil }
	if err := f.r.SetTable(Table{Forwards: []Forward{{Port: port, Package: "p2p", Interface: "peer", Target: 9000}}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(int(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "ping\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("%q %v", line, err)
	}
	// Removing the forward closes its listener.
	if err := f.r.SetTable(Table{}); err != nil {
		t.Fatal(err)
	}
	if c2, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(int(port)), time.Second); err == nil {
		c2.Close()
		t.Fatal("forward still listening after removal")
	}
}

func TestInterfaceName(t *testing.T) {
	for _, tc := range []struct {
		iface, pkg, host, want string
		ok                     bool
	}{
		{"main", "hello", "box", "main-hello-box.local", true},
		{"Main", "hello", "Box", "main-hello-box.local", true},
		{"main", strings.Repeat("a", 60), "box", "", false},
		{"main", "he_llo", "box", "", false},
		{"main", "hello", "My_Box.lan", "main-hello-my-box.local", true},
	} {
		got, err := InterfaceName(tc.iface, tc.pkg, tc.host)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%+v: %q %v", tc, got, err)
		}
	}
}

func TestLabel(t *testing.T) {
	for in, want := range map[string]string{"box": "box", "Box.example.com": "box", "my_box": "my-box", "--": "start", "": "start", strings.Repeat("x", 70): strings.Repeat("x", 63)} {
		if got := Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
}
