package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

func clientTargets(ts *testServer) map[string]string {
	return map[string]string{"http": ts.httpURL, "ws": ts.wsURL, "unix": "unix://" + ts.sock}
}

func TestClientCallsOverEveryTransport(t *testing.T) {
	ts := startServer(t, newBackend(t))
	for name, target := range clientTargets(ts) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c, err := rpc.Dial(ctx, target, ts.opts())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			var got string
			if err := c.Call(ctx, "echo", model.EchoParams{Message: "hi " + name}, &got); err != nil || got != "hi "+name {
				t.Fatalf("echo = %q, %v", got, err)
			}
			var st model.ServerTime
			if err := c.Call(ctx, "server.time", nil, &st); err != nil || !st.Now.Equal(fixedNow) {
				t.Fatalf("server.time = %+v, %v", st, err)
			}
			err = c.Call(ctx, "echo", model.EchoParams{Message: "not-found"}, nil)
			var rerr *rpc.Error
			if !errors.As(err, &rerr) || rerr.Code != rpc.CodeNotFound || rerr.Data == nil || rerr.Data.Details == "" {
				t.Fatalf("library error = %#v, want code %d with details", err, rpc.CodeNotFound)
			}
			err = c.Call(ctx, "no.such", nil, nil)
			if !errors.As(err, &rerr) || rerr.Code != rpc.CodeMethodNotFound {
				t.Fatalf("unknown method = %v", err)
			}
			// Concurrent calls on one client.
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var out string
					msg := string(rune('a' + i))
					if err := c.Call(ctx, "echo", model.EchoParams{Message: msg}, &out); err != nil || out != msg {
						errs <- errors.New("concurrent echo mismatch: " + out)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		})
	}
}

func TestSubscribeNeedsStreamTransport(t *testing.T) {
	ts := startServer(t, newBackend(t))
	c, err := rpc.Dial(context.Background(), ts.httpURL, ts.opts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Subscribe(context.Background(), "server.logs.follow", nil); err == nil {
		t.Fatal("subscribe over HTTP succeeded")
	}
}

func TestDialBadTarget(t *testing.T) {
	if _, err := rpc.Dial(context.Background(), "ftp://x", rpc.ClientOptions{}); err == nil {
		t.Fatal("ftp target accepted")
	}
	if _, err := rpc.Dial(context.Background(), "unix:///nonexistent/rpc.sock", rpc.ClientOptions{}); err == nil {
		t.Fatal("missing socket accepted")
	}
}

// TestShutdownDrainsInFlightCalls: a call in progress when Shutdown starts
// still gets its reply; new connections are refused.
func TestShutdownDrainsInFlightCalls(t *testing.T) {
	b := &slowBackend{hookBackend: newBackend(t), release: make(chan struct{})}
	srv := b.serve(Options{})
	sock := t.TempDir() + "/rpc.sock"
	l, err := ListenSocket(sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.ServeSocket(l); close(served) }()

	c, err := rpc.Dial(context.Background(), "unix://"+sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reply := make(chan error, 1)
	go func() {
		var out string
		err := c.Call(context.Background(), "echo", model.EchoParams{Message: "slow"}, &out)
		if err == nil && out != "slow" {
			err = errors.New("wrong reply " + out)
		}
		reply <- err
	}()
	for b.started.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := net.Dial("unix", sock); err == nil {
		t.Fatal("new connection accepted during shutdown")
	}
	close(b.release)
	if err := <-reply; err != nil {
		t.Fatalf("in-flight call: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	<-served
}

type slowBackend struct {
	*hookBackend
	release chan struct{}
	started atomic.Int64
}

func (b *slowBackend) serve(opts Options) *Server {
	opts.Methods = append(opts.Methods, echoWith(b.Echo))
	return New(b.Server, opts)
}

func (b *slowBackend) Echo(ctx context.Context, p model.EchoParams) (string, error) {
	if p.Message == "slow" {
		b.started.Add(1)
		<-b.release
	}
	return b.hookBackend.Echo(ctx, p)
}

func TestUnixPeerCredentials(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("unix", dir+"/s")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := net.Dial("unix", dir+"/s")
		if err == nil {
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := unixPeer(c)
	if p.UID != os.Getuid() || !p.Local || p.Transport != "unix" {
		t.Fatalf("peer = %+v, want uid %d and local", p, os.Getuid())
	}
}

// TestKeepAliveEndsADeafConnection: a daemon that accepts and never answers
// (this project's founding bug) cannot hang a stream: the keep-alive ping
// goes unanswered, the connection ends, and a waiting call returns.
func TestKeepAliveEndsADeafConnection(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "deaf.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c // held open, never read
		}
	}()
	c, err := rpc.Dial(context.Background(), "unix://"+sock, rpc.ClientOptions{KeepAlive: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	held := <-accepted
	defer held.Close()
	callErr := make(chan error, 1)
	go func() { callErr <- c.Call(context.Background(), "server.time", nil, nil) }()
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the connection to a deaf daemon did not end")
	}
	if err := <-callErr; err == nil {
		t.Fatal("a call to a deaf daemon succeeded")
	}
}

// The local cookie goes only to this machine, and never over the socket.
func TestReadLocalCookie(t *testing.T) {
	cookie := filepath.Join(t.TempDir(), "rpc.authcookie")
	if err := os.WriteFile(cookie, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ target, file, want string }{
		{"http://127.0.0.1:5959", cookie, "secret"},
		{"http://localhost:5959", cookie, "secret"},
		{"https://[::1]:443", cookie, "secret"},
		{"http://10.0.0.5:5959", cookie, ""},
		{"http://box.local:5959", cookie, ""},
		{"unix:///run/startos/rpc.sock", cookie, ""},
		{"http://127.0.0.1:5959", cookie + ".absent", ""},
		{"http://127.0.0.1:5959", "", ""},
	}
	for _, c := range cases {
		if got := rpc.ReadLocalCookie(c.target, c.file); got != c.want {
			t.Errorf("ReadLocalCookie(%q, %q) = %q, want %q", c.target, c.file, got, c.want)
		}
	}
}

// Sideload takes both steps: the upload id is asked for, then the bytes go
// to it and the daemon's verdict on them (here: not an archive) comes back.
func TestClientSideloadUploadsToTheAnsweredID(t *testing.T) {
	ts := startServer(t, newBackend(t))
	ctx := context.Background()
	c, err := rpc.Dial(ctx, ts.httpURL, ts.opts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := "not an s9pk archive"
	err = c.Sideload(ctx, model.SideloadParams{}, strings.NewReader(body), int64(len(body)))
	var rerr *rpc.Error
	if !errors.As(err, &rerr) || rerr.Data == nil || !strings.Contains(strings.ToLower(rerr.Data.Details+rerr.Message), "s9pk") {
		t.Fatalf("Sideload of garbage = %#v, want the daemon's verdict on the archive", err)
	}
}

// SideloadFile sends a file's bytes the same way, and refuses what is not a
// regular file before it asks the daemon for anything.
func TestClientSideloadFile(t *testing.T) {
	ts := startServer(t, newBackend(t))
	ctx := context.Background()
	c, err := rpc.Dial(ctx, ts.httpURL, ts.opts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	garbage := filepath.Join(t.TempDir(), "x.s9pk")
	if err := os.WriteFile(garbage, []byte("not an s9pk archive"), 0o600); err != nil {
		t.Fatal(err)
	}
	var rerr *rpc.Error
	if err := c.SideloadFile(ctx, model.SideloadParams{}, garbage); !errors.As(err, &rerr) {
		t.Fatalf("SideloadFile of garbage = %#v, want the daemon's verdict", err)
	}
	if err := c.SideloadFile(ctx, model.SideloadParams{}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("SideloadFile of a directory = %v", err)
	}
}
