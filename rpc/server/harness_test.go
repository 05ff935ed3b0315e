package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/startos-go/startos/rpc"
)

// testServer is a real Server on a real TCP listener and a real unix socket.
type testServer struct {
	srv     *Server
	http    *httptest.Server
	sock    string
	httpURL string // http://127.0.0.1:port
	wsURL   string // ws://127.0.0.1:port/ws/rpc
	cookie  string // the local auth cookie: the local administrator over HTTP
}

// opts are client options that authenticate as the local administrator.
func (ts *testServer) opts() rpc.ClientOptions { return rpc.ClientOptions{LocalCookie: ts.cookie} }

func startServer(t *testing.T, b *hookBackend) *testServer {
	t.Helper()
	srv := b.serve(Options{})
	hs := httptest.NewServer(srv.Handler())
	sock := filepath.Join(t.TempDir(), "rpc.sock")
	l, err := ListenSocket(sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeSocket(l)
	}()
	cookie, err := os.ReadFile(filepath.Join(b.RunDir(), "rpc.authcookie"))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, http: hs, sock: sock, httpURL: hs.URL, wsURL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws/rpc", cookie: string(cookie)}
	localCookie = ts.cookie
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
		<-done
	})
	return ts
}

// localCookie is the running test server's local cookie for the raw
// helpers; tests in this package do not run in parallel.
var localCookie string

// rawConn sends and receives raw frames on one stream transport.
type rawConn interface {
	send(t *testing.T, frame string)
	recv(t *testing.T) string // one frame, or fails after a timeout
	close()
}

type rawUnix struct {
	c net.Conn
	r *bufio.Reader
}

func dialUnix(t *testing.T, path string) *rawUnix {
	t.Helper()
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &rawUnix{c: c, r: bufio.NewReader(c)}
}

func (u *rawUnix) send(t *testing.T, frame string) {
	t.Helper()
	u.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := u.c.Write([]byte(frame + "\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (u *rawUnix) recv(t *testing.T) string {
	t.Helper()
	u.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := u.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return strings.TrimSpace(line)
}

func (u *rawUnix) close() { u.c.Close() }

type rawWS struct{ c *websocket.Conn }

func dialWS(t *testing.T, url string) *rawWS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {"local=" + localCookie}}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	return &rawWS{c: c}
}

func (w *rawWS) send(t *testing.T, frame string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatalf("ws write: %v", err)
	}
}

func (w *rawWS) recv(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		t.Fatalf("ws read: %v", err)
	}
	return string(b)
}

func (w *rawWS) close() { w.c.Close(websocket.StatusNormalClosure, "") }

// postRaw posts body and returns the status and the body.
func postRaw(t *testing.T, url, body string) (int, http.Header, string) {
	t.Helper()
	return postRawHeader(t, url, body, nil)
}

func postRawHeader(t *testing.T, url, body string, h http.Header) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/rpc/v1", strings.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: "local", Value: localCookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&sb); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, strings.TrimSpace(sb.String())
}

// sameJSON reports whether a and b hold equal JSON values.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("not JSON: %q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("not JSON: %q: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

type urlType = url.URL

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }
