package rpc

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoDaemon answers every RPC POST with the result "ok" (or as answer
// says), and counts the connections it accepted.
type echoDaemon struct {
	*httptest.Server
	mu     sync.Mutex
	conns  int
	answer func(w http.ResponseWriter, r *http.Request) // nil: "ok"
}

func newEchoDaemon(t *testing.T) *echoDaemon {
	d := &echoDaemon{}
	d.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		d.mu.Lock()
		answer := d.answer
		d.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":"ok"}`)
	}))
	d.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			d.mu.Lock()
			d.conns++
			d.mu.Unlock()
		}
	}
	d.Start()
	t.Cleanup(d.Close)
	return d
}

func (d *echoDaemon) accepted() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conns
}

func (d *echoDaemon) setAnswer(f func(w http.ResponseWriter, r *http.Request)) {
	d.mu.Lock()
	d.answer = f
	d.mu.Unlock()
}

func (p *httpConns) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

func dialOwn(t *testing.T, d *echoDaemon) *Client {
	t.Helper()
	c, err := Dial(context.Background(), d.URL, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.own == nil {
		t.Fatal("the client does not use its own connections")
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func callOK(t *testing.T, c *Client) {
	t.Helper()
	var out string
	if err := c.Call(context.Background(), "echo", nil, &out); err != nil || out != "ok" {
		t.Fatalf("call: %q, %v", out, err)
	}
}

func TestOwnHTTPConnectionIsReused(t *testing.T) {
	d := newEchoDaemon(t)
	c := dialOwn(t, d)
	for range 5 {
		callOK(t, c)
	}
	if n := d.accepted(); n != 1 {
		t.Fatalf("5 calls in a row took %d connections", n)
	}
}

// A connection the daemon closed while it idled is not used again.
func TestOwnHTTPConnectionClosedByTheDaemon(t *testing.T) {
	d := newEchoDaemon(t)
	c := dialOwn(t, d)
	callOK(t, c)
	d.CloseClientConnections()
	// Wait until the client's end has seen the close.
	c.own.mu.Lock()
	hc := c.own.idle[0]
	c.own.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for hc.usable() {
		if time.Now().After(deadline) {
			t.Fatal("the client never saw the daemon close the connection")
		}
		time.Sleep(time.Millisecond)
	}
	callOK(t, c)
	if n := d.accepted(); n != 2 {
		t.Fatalf("%d connections, want a new one after the close", n)
	}
}

// A cancelled call, an answer not read to the end and an answer that closes
// the connection each leave the connection out of the pool; the next call
// works on a new one.
func TestOwnHTTPConnectionNotReusedAfterAnUnfinishedCall(t *testing.T) {
	d := newEchoDaemon(t)
	c := dialOwn(t, d)
	callOK(t, c)

	release, entered := make(chan struct{}), make(chan struct{}, 1)
	d.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Call(ctx, "echo", nil, nil) }()
	<-entered // the call waits for its answer
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	close(release)

	d.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, strings.Repeat("x", 64<<10), http.StatusBadGateway)
	})
	if err := c.Call(context.Background(), "echo", nil, nil); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("call answered 502: %v", err)
	}

	d.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":"ok"}`)
	})
	callOK(t, c)

	d.setAnswer(nil)
	callOK(t, c)
	callOK(t, c)
	// The cancelled call took the first call's connection; each call after
	// one that did not end cleanly needed a new one; the last two calls
	// shared one.
	if n := d.accepted(); n != 4 {
		t.Fatalf("%d connections, want 4", n)
	}
}

// Concurrent calls each get a connection; two stay idle afterwards, as
// http.Transport keeps them.
func TestOwnHTTPConnectionsUnderConcurrentCalls(t *testing.T) {
	d := newEchoDaemon(t)
	c := dialOwn(t, d)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			var out string
			if err := c.Call(context.Background(), "echo", nil, &out); err != nil || out != "ok" {
				t.Errorf("call: %q, %v", out, err)
			}
		})
	}
	wg.Wait()
	if idle := c.own.idleCount(); idle == 0 || idle > maxIdleHTTPConns {
		t.Fatalf("%d idle connections", idle)
	}
	c.Close()
	if idle := c.own.idleCount(); idle != 0 {
		t.Fatalf("%d idle connections after Close", idle)
	}
}

// Another transport than the default, or TLS, keeps net/http's transport.
func TestOwnHTTPConnectionsOnlyForTheDefaultTransport(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1/rpc/v1")
	if ownHTTPConns(&http.Client{Transport: &http.Transport{}}, u) != nil {
		t.Error("own connections with a transport of the caller's")
	}
	if ownHTTPConns(&http.Client{Jar: nil}, u) == nil {
		t.Error("no own connections for plain HTTP with the default transport")
	}
	tlsURL, _ := url.Parse("https://127.0.0.1:1/rpc/v1")
	if ownHTTPConns(&http.Client{}, tlsURL) != nil {
		t.Error("own connections for TLS")
	}
}
