package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/rpc"
)

const echoOK = `{"jsonrpc":"2.0","id":99,"method":"echo","params":{"message":"still here"}}`
const echoOKReply = `{"jsonrpc":"2.0","id":99,"result":"still here"}`

// TestBadInputKeepsServing sends each bad input on a stream connection, then
// a good call on the same connection and on a fresh one.
func TestBadInputKeepsServing(t *testing.T) {
	ts := startServer(t, newBackend(t))
	bad := []struct {
		name  string
		frame string
		code  string
	}{
		{"malformed", `{"id":1,`, "-32700"},
		{"empty", `   `, ""}, // blank lines are skipped on the line transport
		{"wrong jsonrpc", `{"jsonrpc":"1.0","id":1,"method":"state"}`, "-32600"},
		{"unknown method", `{"id":1,"method":"nope"}`, "-32601"},
		{"missing params", `{"id":1,"method":"echo"}`, "-32602"},
		{"wrong type", `{"id":1,"method":"echo","params":{"message":[]}}`, "-32602"},
		{"unknown field", `{"id":1,"method":"echo","params":{"message":"x","y":1}}`, "-32602"},
		{"batch", `[{"id":1,"method":"state"}]`, "-32600"},
		{"oversized", `{"id":1,"method":"echo","params":{"message":"` + strings.Repeat("x", rpc.MaxBodyBytes+10) + `"}}`, "-32600"},
	}
	for _, tr := range []string{"unix", "ws"} {
		for _, b := range bad {
			if tr == "ws" && (b.name == "empty" || b.name == "oversized") {
				continue // covered by TestWebSocketOversizedMessage and the fixtures
			}
			t.Run(tr+"/"+b.name, func(t *testing.T) {
				var c rawConn
				if tr == "unix" {
					c = dialUnix(t, ts.sock)
				} else {
					c = dialWS(t, ts.wsURL)
				}
				defer c.close()
				c.send(t, b.frame)
				if b.code != "" {
					if got := c.recv(t); !strings.Contains(got, `"code":`+b.code) {
						t.Fatalf("reply %s, want code %s", got, b.code)
					}
				}
				c.send(t, echoOK)
				if got := c.recv(t); !sameJSON(t, got, echoOKReply) {
					t.Fatalf("same connection after bad input: %s", got)
				}
				other := dialUnix(t, ts.sock)
				defer other.close()
				other.send(t, echoOK)
				if got := other.recv(t); !sameJSON(t, got, echoOKReply) {
					t.Fatalf("other connection: %s", got)
				}
			})
		}
	}
}

func TestHTTPOversizedBody(t *testing.T) {
	ts := startServer(t, newBackend(t))
	body := `{"id":1,"method":"echo","params":{"message":"` + strings.Repeat("x", rpc.MaxBodyBytes) + `"}}`
	status, _, got := postRaw(t, ts.httpURL, body)
	if status != 200 || !strings.Contains(got, `"code":-32600`) || !strings.Contains(got, "exceeds the limit") {
		t.Fatalf("status %d body %.200s", status, got)
	}
	if _, _, got := postRaw(t, ts.httpURL, echoOK); !sameJSON(t, got, echoOKReply) {
		t.Fatalf("after oversized body: %s", got)
	}
}

func TestHTTPEmptyBodyAndNotification(t *testing.T) {
	ts := startServer(t, newBackend(t))
	status, _, got := postRaw(t, ts.httpURL, "")
	if status != 200 || !strings.Contains(got, `"code":-32700`) {
		t.Fatalf("empty body: %d %s", status, got)
	}
	// StartOS answers a request without an id, and so do we...
	status, _, got = postRaw(t, ts.httpURL, `{"method":"echo","params":{"message":"n"}}`)
	if status != http.StatusOK || !sameJSON(t, got, `{"jsonrpc":"2.0","id":null,"result":"n"}`) {
		t.Fatalf("request without an id: %d %q", status, got)
	}
	// ...unless the client asks for notification semantics.
	minimal := http.Header{"Prefer": {"respond-async, return=minimal"}}
	status, _, got = postRawHeader(t, ts.httpURL, `{"method":"echo","params":{"message":"n"}}`, minimal)
	if status != http.StatusNoContent || got != "" {
		t.Fatalf("notification: %d %q", status, got)
	}
	status, _, got = postRawHeader(t, ts.httpURL, `[{"method":"echo","params":{"message":"n"}}]`, minimal)
	if status != http.StatusNoContent || got != "" {
		t.Fatalf("batch of notifications: %d %q", status, got)
	}
	status, _, got = postRawHeader(t, ts.httpURL, `{"id":1,"method":"echo","params":{"message":"n"}}`, minimal)
	if status != http.StatusOK || !sameJSON(t, got, `{"jsonrpc":"2.0","id":1,"result":"n"}`) {
		t.Fatalf("a request with an id is answered whatever the Prefer header says: %d %q", status, got)
	}
	resp, err := http.Get(ts.httpURL + "/rpc/v1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

func TestBatchTooLarge(t *testing.T) {
	ts := startServer(t, newBackend(t))
	items := make([]string, rpc.MaxBatch+1)
	for i := range items {
		items[i] = `{"id":1,"method":"state"}`
	}
	_, _, got := postRaw(t, ts.httpURL, "["+strings.Join(items, ",")+"]")
	if !strings.Contains(got, `"code":-32600`) || !strings.Contains(got, "exceeds the limit") {
		t.Fatalf("got %.300s", got)
	}
}

func TestWebSocketOversizedMessage(t *testing.T) {
	ts := startServer(t, newBackend(t))
	c := dialWS(t, ts.wsURL)
	defer c.close()
	c.send(t, `{"id":1,"method":"echo","params":{"message":"`+strings.Repeat("x", rpc.MaxBodyBytes)+`"}}`)
	// The WebSocket library closes a connection whose message is over the
	// read limit (status 1009); other connections go on.
	other := dialWS(t, ts.wsURL)
	defer other.close()
	other.send(t, echoOK)
	if got := other.recv(t); !sameJSON(t, got, echoOKReply) {
		t.Fatalf("other connection: %s", got)
	}
}

// TestClientThatNeverReads: a unix peer that sends calls with large replies
// and never reads is disconnected, and other clients are served meanwhile.
func TestClientThatNeverReads(t *testing.T) {
	ts := startServer(t, newBackend(t))
	hog, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	big := `{"id":1,"method":"echo","params":{"message":"` + strings.Repeat("y", 256<<10) + `"}}` + "\n"
	disconnected := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			hog.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := hog.Write([]byte(big)); err != nil {
				disconnected <- err
				return
			}
		}
	}()
	// While the hog is stuck, others still get answers.
	for range 5 {
		c := dialUnix(t, ts.sock)
		c.send(t, echoOK)
		if got := c.recv(t); !sameJSON(t, got, echoOKReply) {
			t.Fatalf("other client: %s", got)
		}
		c.close()
	}
	select {
	case err := <-disconnected:
		if !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "broken pipe") && !strings.Contains(err.Error(), "reset by peer") {
			t.Fatalf("hog write failed with %v, want the server to have closed it", err)
		}
	case <-time.After(2 * rpc.WriteTimeout):
		t.Fatal("server did not disconnect a client that never reads")
	}
}

// TestCallContextCancelledWhenClientGoesAway covers both kinds of transport.
func TestCallContextCancelledWhenClientGoesAway(t *testing.T) {
	b := newBackend(t)
	ts := startServer(t, b)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.httpURL+"/rpc/v1",
		strings.NewReader(`{"id":1,"method":"echo","params":{"message":"block"}}`))
	req.Header.Set("Content-Type", "application/json")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-errc
	select {
	case err := <-b.cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("http: handler saw %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("http: handler context not cancelled when the client went away")
	}

	for _, tr := range []string{"unix", "ws"} {
		var c rawConn
		if tr == "unix" {
			c = dialUnix(t, ts.sock)
		} else {
			c = dialWS(t, ts.wsURL)
		}
		c.send(t, `{"id":1,"method":"echo","params":{"message":"block"}}`)
		time.Sleep(100 * time.Millisecond)
		c.close()
		select {
		case err := <-b.cancelled:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: handler saw %v", tr, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: handler context not cancelled on disconnect", tr)
		}
	}
}

func TestCrossOriginWebSocketRefused(t *testing.T) {
	ts := startServer(t, newBackend(t))
	req, _ := http.NewRequest(http.MethodGet, ts.httpURL+"/ws/rpc", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Origin", "http://evil.example")
	req.AddCookie(&http.Cookie{Name: rpc.LocalCookie, Value: ts.cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade: status %d, want 403", resp.StatusCode)
	}
}
