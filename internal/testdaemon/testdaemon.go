// Package testdaemon runs the real library behind a real RPC server, on a
// unix socket and a loopback HTTP listener, for the frontends' tests.
package testdaemon

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/startos-go/startos/rpc/server"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/auth"
)

// CheapPassword keeps argon2id fast in tests; the hash format is the same.
var CheapPassword = auth.Params{Memory: 1024, Time: 1, Threads: 1}

// Daemon is one in-process daemon.
type Daemon struct {
	Dir  string          // the data directory
	Lib  *startos.Server // the library
	Srv  *server.Server
	Sock string // unix socket path
	HTTP string // http://127.0.0.1:port
	// LAN is the LAN router's TLS address on loopback (127.0.0.1:port);
	// package interfaces get addresses on it.
	LAN    string
	Cookie string // path of the local auth cookie file

	hs *httptest.Server
}

// Start opens the library on dir (a new temporary one when empty) and
// serves it; the test's cleanup stops it.
func Start(t testing.TB, dir string) *Daemon {
	t.Helper()
	return StartWith(t, dir, nil)
}

// StartWith is Start with edit applied to the library's config first (a
// test that needs loopback downloads, say).
func StartWith(t testing.TB, dir string, edit func(*startos.Config)) *Daemon {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := startos.Config{DataDir: dir, Stderr: io.Discard, PasswordParams: &CheapPassword,
		AuthorizedKeys: filepath.Join(dir, "ssh", "authorized_keys")}
	if edit != nil {
		edit(&cfg)
	}
	lib, err := startos.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Dir: dir, Lib: lib, Srv: server.New(lib, server.Options{})}
	d.Sock = filepath.Join(lib.RunDir(), "rpc.sock")
	d.Cookie = filepath.Join(lib.RunDir(), startos.AuthCookieFile)
	l, err := server.ListenSocket(d.Sock)
	if err != nil {
		lib.Close()
		t.Fatal(err)
	}
	go func() { _ = d.Srv.ServeSocket(l) }() // ends at Shutdown, which waits for it
	d.hs = httptest.NewServer(d.Srv.Handler())
	d.HTTP = d.hs.URL
	lanLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.LAN = lanLn.Addr().String()
	lan, err := lib.StartLAN(startos.LANOptions{Box: d.Srv.Handler(), HTTPSPort: lanLn.Addr().(*net.TCPAddr).Port, ForwardHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = lan.ServeTLS(lanLn) }() // ends when the library closes the router
	t.Cleanup(d.Stop)
	return d
}

// Stop shuts the server and the library down; it is safe to call twice.
func (d *Daemon) Stop() {
	if d.Lib == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.Srv.Shutdown(ctx)
	d.hs.Close()
	d.Lib.Close()
	d.Lib = nil
}
