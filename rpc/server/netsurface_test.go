package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tcpServer is a Server behind startd's own HTTP server setup: NewHTTPServer
// on a LimitListener over a real TCP listener on 127.0.0.1.
type tcpServer struct {
	srv  *Server
	addr string
}

func startTCPServer(t *testing.T, b *hookBackend, opts Options, lim ConnLimits, wrap func(net.Listener) net.Listener) *tcpServer {
	t.Helper()
	srv := b.serve(opts)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener = raw
	if wrap != nil {
		l = wrap(l)
	}
	l = LimitListener(l, lim, nil)
	hs := NewHTTPServer(srv.Handler(), nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		srv.Shutdown(ctx)
		hs.Close()
		<-done
	})
	return &tcpServer{srv: srv, addr: raw.Addr().String()}
}

// rawHTTP is one client TCP connection from a chosen loopback address.
type rawHTTP struct {
	c net.Conn
	r *bufio.Reader
}

func dialFrom(t *testing.T, ip, addr string) *rawHTTP {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawHTTP{c: c, r: bufio.NewReader(c)}
}

const echoBody = `{"id":1,"method":"echo","params":{"message":"hi"}}`

// echo sends one keep-alive echo request and returns the answer's status, or
// the error that ended the connection.
func (h *rawHTTP) echo() (int, error) {
	h.c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(h.c, "POST /rpc/v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(echoBody), echoBody)
	resp, err := http.ReadResponse(h.r, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if !strings.Contains(string(b), `"result":"hi"`) {
		return 0, fmt.Errorf("answer %s", b)
	}
	return resp.StatusCode, nil
}

// closedByServer reports whether the server ends the connection (EOF or
// reset) within 10 s, reading and discarding whatever it sends first.
func (h *rawHTTP) closedByServer() error {
	h.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, h.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("the server kept the connection open")
	}
	return nil
}

// TestSlowBodyIsCut: connections that send headers and one body byte (a
// slowloris) are closed once the body deadline passes, and other clients
// are served meanwhile.
func TestSlowBodyIsCut(t *testing.T) {
	ts := startTCPServer(t, newBackend(t), Options{BodyTimeout: 300 * time.Millisecond}, ConnLimits{Total: 100, PerClient: 100}, nil)
	var slow []*rawHTTP
	for range 20 {
		h := dialFrom(t, "127.0.0.20", ts.addr)
		fmt.Fprintf(h.c, "POST /rpc/v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		slow = append(slow, h)
	}
	if _, err := dialFrom(t, "127.0.0.21", ts.addr).echo(); err != nil {
		t.Fatalf("another client while slow bodies are pending: %v", err)
	}
	for i, h := range slow {
		if err := h.closedByServer(); err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
	}
	// Slow headers are cut by http.Server's ReadHeaderTimeout (NewHTTPServer
	// sets it); what matters here is that the address is served afterwards.
	if _, err := dialFrom(t, "127.0.0.20", ts.addr).echo(); err != nil {
		t.Fatalf("the slow client's address afterwards: %v", err)
	}
}

// TestConnectionCap: at the per-client and total caps new connections are
// refused at once, connections already open keep being served, and a slot
// comes back when a connection closes.
func TestConnectionCap(t *testing.T) {
	ts := startTCPServer(t, newBackend(t), Options{}, ConnLimits{Total: 4, PerClient: 2}, nil)
	serve := func(ip string) *rawHTTP {
		t.Helper()
		h := dialFrom(t, ip, ts.addr)
		if _, err := h.echo(); err != nil {
			t.Fatalf("client %s: %v", ip, err)
		}
		return h
	}
	a1, a2 := serve("127.0.0.31"), serve("127.0.0.31")
	if err := dialFrom(t, "127.0.0.31", ts.addr).closedByServer(); err != nil {
		t.Fatalf("third connection from one client: %v", err)
	}
	b1, _ := serve("127.0.0.32"), serve("127.0.0.32")
	if err := dialFrom(t, "127.0.0.33", ts.addr).closedByServer(); err != nil {
		t.Fatalf("fifth connection in all: %v", err)
	}
	for i, h := range []*rawHTTP{a1, a2, b1} {
		if _, err := h.echo(); err != nil {
			t.Fatalf("open connection %d at the cap: %v", i, err)
		}
	}
	a1.c.Close()
	// The slot is free once the server has seen the close: retry until then.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := dialFrom(t, "127.0.0.33", ts.addr)
		_, err := h.echo()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a connection closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// flakyListener fails its first accepts with an error, as accept(2) does
// when the process is out of file descriptors.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails int
}

var errEMFILE = &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.fails > 0 {
		l.fails--
		l.mu.Unlock()
		return nil, errEMFILE
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// TestSocketSurvivesAcceptErrors: EMFILE on the unix socket is retried, not
// the end of serving (it used to make startd exit).
func TestSocketSurvivesAcceptErrors(t *testing.T) {
	if !RetryableAcceptError(errEMFILE) {
		t.Fatal("EMFILE is not retryable")
	}
	if RetryableAcceptError(net.ErrClosed) {
		t.Fatal("a closed listener is retryable")
	}
	srv := newBackend(t).serve(Options{})
	path := filepath.Join(t.TempDir(), "rpc.sock")
	l, err := ListenSocket(path)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeSocket(&flakyListener{Listener: l, fails: 5}) }()
	for i := range 3 {
		c := dialUnix(t, path)
		c.send(t, echoOK)
		if got := c.recv(t); !sameJSON(t, got, echoOKReply) {
			t.Fatalf("call %d after accept errors: %s", i, got)
		}
		c.close()
	}
	select {
	case err := <-served:
		t.Fatalf("ServeSocket returned: %v", err)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("after Shutdown: %v", err)
	}
}

// pausableListener stops handing out connections while paused; the kernel
// still completes handshakes into the backlog, as with a wedged accept loop.
type pausableListener struct {
	net.Listener
	mu     sync.Mutex
	paused bool
	resume chan struct{}
}

func (l *pausableListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.paused {
		ch := l.resume
		l.mu.Unlock()
		<-ch
	} else {
		l.mu.Unlock()
	}
	return l.Listener.Accept()
}

func (l *pausableListener) pause() {
	l.mu.Lock()
	l.paused, l.resume = true, make(chan struct{})
	l.mu.Unlock()
}

func (l *pausableListener) unpause() {
	l.mu.Lock()
	if l.paused {
		l.paused = false
		close(l.resume)
	}
	l.mu.Unlock()
}

// TestEchoProbeNoticesDeafListener: the watchdog's loopback probe fails when
// the listener stops accepting, though connections already open would still
// be answered.
func TestEchoProbeNoticesDeafListener(t *testing.T) {
	var pl *pausableListener
	ts := startTCPServer(t, newBackend(t), Options{}, ConnLimits{Total: 100, PerClient: 100}, func(l net.Listener) net.Listener {
		pl = &pausableListener{Listener: l}
		return pl
	})
	probe := EchoProbe(ts.addr)
	run := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return probe(ctx)
	}
	if err := run(10 * time.Second); err != nil {
		t.Fatalf("probe of a healthy listener: %v", err)
	}
	old := dialFrom(t, "127.0.0.1", ts.addr)
	if _, err := old.echo(); err != nil {
		t.Fatal(err)
	}
	// The accept loop is parked in Accept already; let it take one more
	// connection so the pause holds it next time.
	pl.pause()
	dialFrom(t, "127.0.0.1", ts.addr).echo()
	if _, err := old.echo(); err != nil {
		t.Fatalf("an open connection while deaf: %v", err)
	}
	if err := run(time.Second); err == nil {
		t.Fatal("probe passed while the listener accepts nothing")
	}
	pl.unpause()
	if err := run(10 * time.Second); err != nil {
		t.Fatalf("probe after the listener recovered: %v", err)
	}
}

func (l *pausableListener) Close() error {
	l.mu.Lock()
	if l.paused {
		l.paused = false
		close(l.resume)
	}
	l.mu.Unlock()
	return l.Listener.Close()
}
