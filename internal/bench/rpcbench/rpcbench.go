// Package rpcbench measures echo round trips over each transport against the
// Docker Engine answering GET /_ping over its own socket in the same run.
package rpcbench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/startos-go/startos/internal/bench/goal"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/rpc/server"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/model"
)

// Calls is how many round trips each measurement makes.
const Calls = 20000

// DockerSocket is the engine's socket.
const DockerSocket = "/var/run/docker.sock"

// Result is one measured series.
type Result struct {
	Name     string
	PerSec   float64
	P50, P99 time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("%-28s %9.0f calls/s  p50=%-9s p99=%s", r.Name, r.PerSec, r.P50, r.P99)
}

// measure runs fn n times sequentially and summarises the latencies.
func measure(name string, n int, fn func() error) (Result, error) {
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for range n {
		t0 := time.Now()
		if err := fn(); err != nil {
			return Result{}, fmt.Errorf("%s: %w", name, err)
		}
		lat = append(lat, time.Since(t0))
	}
	total := time.Since(start)
	slices.Sort(lat)
	return Result{
		Name:   name,
		PerSec: float64(n) / total.Seconds(),
		P50:    lat[n/2].Round(time.Microsecond / 10),
		P99:    lat[n*99/100].Round(time.Microsecond / 10),
	}, nil
}

// Run prints the RPC figures and the Docker yardstick.
func Run(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "rpcbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e, err := serve(ctx, dir)
	if err != nil {
		return err
	}
	defer e.close()
	lib, hs, sock, cookie := e.lib, e.hs, e.sock, e.cookie

	docker, err := dockerPing(ctx)
	if err != nil {
		return fmt.Errorf("docker yardstick: %w", err)
	}
	fmt.Fprintln(w, docker)
	targets := []struct {
		name, target string
		goal         float64 // throughput over docker's /_ping (issue 17)
	}{
		{"rpc echo http keep-alive", hs.URL, 3},
		{"rpc echo websocket", "ws" + hs.URL[len("http"):], 2},
		{"rpc echo unix socket", "unix://" + sock, 4},
	}
	for _, tg := range targets {
		c, err := rpc.Dial(ctx, tg.target, rpc.ClientOptions{LocalCookie: string(cookie)})
		if err != nil {
			return err
		}
		p := model.EchoParams{Message: "ping"}
		var out string
		r, err := measure(tg.name, Calls, func() error { return c.Call(ctx, "echo", p, &out) })
		c.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s  ratio to docker ping %.2fx (p50 %.2fx)\n", r, r.PerSec/docker.PerSec,
			float64(r.P50)/float64(docker.P50))
		goal.AtLeast(w, tg.name+" vs engine /_ping", r.PerSec/docker.PerSec, tg.goal, "%.2fx", fmt.Sprintf(">= %gx", tg.goal))
	}
	if err := httpAgainstBareHandler(ctx, w, hs.URL, string(cookie)); err != nil {
		return err
	}
	return authOverhead(ctx, w, lib, hs.URL)
}

// httpAgainstBareHandler compares the same client's echo against startd's
// handler and against a net/http handler that only reads the body and
// writes a fixed answer, in alternating rounds so drift in the machine hits
// both alike.
// What startd's handler does (checks, identity, dispatch) is the gap; the
// rest of an HTTP echo is net/http, the client and the socket.
func httpAgainstBareHandler(ctx context.Context, w io.Writer, realURL, cookie string) error {
	answer := []byte(`{"jsonrpc":"2.0","id":1,"result":"ping"}` + "\n")
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		rw.Header()["Content-Type"] = []string{"application/json"}
		_, _ = rw.Write(answer)
	}))
	defer hs.Close()
	var real, bare []float64
	realC, err := rpc.Dial(ctx, realURL, rpc.ClientOptions{LocalCookie: cookie})
	if err != nil {
		return err
	}
	defer realC.Close()
	bareC, err := rpc.Dial(ctx, hs.URL, rpc.ClientOptions{})
	if err != nil {
		return err
	}
	defer bareC.Close()
	p := model.EchoParams{Message: "ping"}
	var out string
	for range 4 {
		a, err := measure("echo", Calls/4, func() error { return realC.Call(ctx, "echo", p, &out) })
		if err != nil {
			return err
		}
		b, err := measure("bare", Calls/4, func() error { return bareC.Call(ctx, "echo", p, &out) })
		if err != nil {
			return err
		}
		real, bare = append(real, a.PerSec), append(bare, b.PerSec)
	}
	slices.Sort(real)
	slices.Sort(bare)
	r, f := (real[1]+real[2])/2, (bare[1]+bare[2])/2
	fmt.Fprintf(w, "%-28s %9.0f calls/s, a fixed-answer net/http handler %.0f (alternating rounds): %.0f%% of its rate\n",
		"rpc echo http vs net/http", r, f, 100*r/f)
	return nil
}

// echoServers is a library with its server on HTTP and the unix socket,
// for the echo figures (Run) and their go benchmark (BenchmarkEcho).
type echoServers struct {
	lib    *startos.Server
	srv    *server.Server
	hs     *httptest.Server
	sock   string
	cookie []byte // the local auth cookie
}

func serve(ctx context.Context, dir string) (*echoServers, error) {
	lib, err := startos.Open(ctx, startos.Config{DataDir: dir, Stderr: io.Discard})
	if err != nil {
		return nil, err
	}
	e := &echoServers{lib: lib, srv: server.New(lib, server.Options{}), sock: filepath.Join(dir, "rpc.sock")}
	e.hs = httptest.NewServer(e.srv.Handler())
	l, err := server.ListenSocket(e.sock)
	if err == nil {
		go e.srv.ServeSocket(l)
		e.cookie, err = os.ReadFile(filepath.Join(lib.RunDir(), startos.AuthCookieFile))
	}
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *echoServers) close() {
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.srv.Shutdown(sctx)
	e.hs.Close()
	e.lib.Close()
}

// authOverhead prints the cost of one login (argon2id with the default
// parameters) and the extra latency of an echo made under a session over an
// anonymous one, on the same keep-alive HTTP transport.
func authOverhead(ctx context.Context, w io.Writer, lib *startos.Server, url string) error {
	const password = "benchmark passphrase"
	if _, err := lib.Setup(ctx, model.SetupParams{Password: password}); err != nil {
		return err
	}
	anon, err := rpc.Dial(ctx, url, rpc.ClientOptions{})
	if err != nil {
		return err
	}
	defer anon.Close()
	logins, err := measure("auth.login (argon2id m=64MiB t=2 p=2)", 10, func() error {
		return anon.Call(ctx, "auth.login", model.LoginParams{Password: password, Ephemeral: true}, nil)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-28s mean %s  p50=%s\n", logins.Name, time.Duration(float64(time.Second)/logins.PerSec).Round(time.Millisecond), logins.P50)

	authed, err := rpc.Dial(ctx, url, rpc.ClientOptions{})
	if err != nil {
		return err
	}
	defer authed.Close()
	if err := authed.Call(ctx, "auth.login", model.LoginParams{Password: password}, nil); err != nil {
		return err
	}
	p := model.EchoParams{Message: "ping"}
	var out string
	// Interleave rounds so drift on a busy machine hits both alike.
	var a, b []Result
	for range 4 {
		ra, err := measure("echo anonymous", Calls/4, func() error { return anon.Call(ctx, "echo", p, &out) })
		if err != nil {
			return err
		}
		rb, err := measure("echo with session", Calls/4, func() error { return authed.Call(ctx, "echo", p, &out) })
		if err != nil {
			return err
		}
		a, b = append(a, ra), append(b, rb)
	}
	pa, pb := medianP50(a), medianP50(b)
	fmt.Fprintf(w, "%-28s p50 anonymous=%s with session=%s  extra=%.1f%%\n", "auth echo overhead (http)", pa, pb,
		100*(float64(pb)-float64(pa))/float64(pa))
	return nil
}

func medianP50(rs []Result) time.Duration {
	ds := make([]time.Duration, len(rs))
	for i, r := range rs {
		ds[i] = r.P50
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// dockerPing measures GET /_ping on the engine's socket with keep-alive.
func dockerPing(ctx context.Context) (Result, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", DockerSocket)
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	return measure("docker GET /_ping (yardstick)", Calls/4, func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	})
}
