package install

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/errdefs"
)

// Without AllowLocalDownloads, package.install dials no loopback address:
// the package server on 127.0.0.1 is never reached, by address or by name.
// (Link-local and private targets are refused by the same check, tested on
// the check itself below, so that this test dials nothing outside loopback
// even against a daemon without the fix.)
func TestInstallURLRefusesLocal(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	path := e.pkg(testpkg.Options{ID: id, Version: "0.1.0"})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.ServeFile(w, r, path)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, u := range []string{
		srv.URL + "/pkg.s9pk",
		"http://localhost:" + port + "/pkg.s9pk",
		"http://[::1]:" + port + "/pkg.s9pk",
		"http://0.0.0.0:" + port + "/pkg.s9pk",
	} {
		err := e.in.InstallURL(context.Background(), u)
		if !errors.Is(err, errdefs.ErrNetwork) || !strings.Contains(err.Error(), "could not download the package from") ||
			!strings.Contains(err.Error(), "--allow-local-downloads") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the local server was reached %d times", n)
	}
	if _, ok := e.entry(id); ok {
		t.Error("a refused download installed the package")
	}
}

// The dial check refuses every non-public address, the dialed one (after
// DNS, after redirects), before connect.
func TestDialCheck(t *testing.T) {
	e := newEnv(t, nil)
	for _, addr := range []string{"127.0.0.1:80", "[::1]:443", "169.254.169.254:80", "10.1.2.3:80", "192.168.1.1:8080",
		"172.20.0.2:5959", "[fe80::1%lo]:80", "[fd00::1]:80", "100.64.1.1:80", "0.0.0.0:80", "[::ffff:127.0.0.1]:80"} {
		if err := e.in.dialCheck(addr); !errors.Is(err, errLocalTarget) {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if err := e.in.dialCheck("1.1.1.1:443"); err != nil {
		t.Errorf("public address: %v", err)
	}
	local := newEnv(t, func(o *Options) { o.AllowLocalDownloads = true })
	if err := local.in.dialCheck("127.0.0.1:80"); err != nil {
		t.Errorf("with AllowLocalDownloads: %v", err)
	}
}

// A redirect from an allowed server to a local one is refused at dial time.
func TestInstallURLRedirectToLocal(t *testing.T) {
	e := newEnv(t, nil)
	var localHits atomic.Int32
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { localHits.Add(1) }))
	defer local.Close()
	public := httptest.NewServer(http.RedirectHandler(local.URL+"/admin", http.StatusFound))
	defer public.Close()
	// Stand-in for a public server: only the redirecting server's address
	// passes, as a public address would.
	e.in.dialCheck = func(address string) error {
		if address == public.Listener.Addr().String() {
			return nil
		}
		return e.in.checkPublic(address)
	}
	err := e.in.InstallURL(context.Background(), public.URL+"/pkg.s9pk")
	if !errors.Is(err, errdefs.ErrNetwork) || !strings.Contains(err.Error(), "could not download the package from") {
		t.Fatalf("redirect to a local address: %v", err)
	}
	if n := localHits.Load(); n != 0 {
		t.Errorf("the redirect reached the local server %d times", n)
	}
}

// Every way a download can fail reads the same, so package.install cannot
// tell a closed port from a 403 or a 405.
func TestInstallURLOneMessage(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowLocalDownloads = true })
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}
	var msgs []string
	for _, base := range []string{status(403), status(405), status(404), status(500), closed()} {
		err := e.in.InstallURL(context.Background(), base+"/pkg.s9pk")
		if !errors.Is(err, errdefs.ErrNetwork) {
			t.Fatalf("%s: %v", base, err)
		}
		msgs = append(msgs, strings.ReplaceAll(err.Error(), base, "URL"))
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Errorf("messages differ:\n%s\n%s", msgs[0], m)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		public bool
	}{
		{"1.1.1.1", true}, {"2606:4700::1111", true},
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false}, {"10.0.0.1", false}, {"172.16.0.1", false},
		{"192.168.0.1", false}, {"169.254.169.254", false}, {"fe80::1", false}, {"fd12::1", false},
		{"100.64.0.1", false}, {"0.0.0.0", false}, {"::", false}, {"224.0.0.1", false}, {"::ffff:127.0.0.1", false},
	} {
		if got := PublicAddr(netip.MustParseAddr(tc.ip)); got != tc.public {
			t.Errorf("%s: public %v", tc.ip, got)
		}
	}
}
