// Package lanbench measures the LAN router: requests through it against
// the same container port dialed directly on loopback, TLS handshakes per
// second (ECDSA P-256), and the memory 1,000 idle client connections cost.
package lanbench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/net/ca"
	"github.com/startos-go/startos/startos/net/router"
)

// Requests is how many requests each series makes; Workers run them.
const (
	Requests  = 20000
	Workers   = 4
	IdleConns = 1000
	name      = "main-bench-box.local"
)

// Run builds the test app's image, runs it with port 8080 published on an
// engine-chosen loopback port, and measures.
func Run(ctx context.Context, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	eng, err := container.New(container.Options{})
	if err != nil {
		return err
	}
	defer eng.Close()
	b, err := testpkg.NewBuilder(eng)
	if err != nil {
		return err
	}
	m, err := testpkg.NewManifest(testpkg.Options{})
	if err != nil {
		return err
	}
	tag, err := b.BuildImage(ctx, m)
	if err != nil {
		return err
	}
	defer testpkg.Sweep(eng, m.ID)
	cname := "startos-lanbench-" + m.ID
	if _, err := eng.CreateContainer(ctx, container.Spec{Name: cname, Image: tag, Cmd: []string{"serve"},
		Labels: map[string]string{testpkg.Label: m.ID}, Ports: []container.PortBinding{{ContainerPort: 8080}}}); err != nil {
		return err
	}
	defer eng.RemoveContainer(context.Background(), cname, true)
	if err := eng.StartContainer(ctx, cname); err != nil {
		return err
	}
	st, err := eng.InspectContainer(ctx, cname)
	if err != nil {
		return err
	}
	backend := st.Ports[8080]
	if backend == "" {
		return fmt.Errorf("port 8080 not published: %v", st.Ports)
	}

	dir, err := os.MkdirTemp("", "startos-lanbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	authority, err := ca.Open(ca.Options{Dir: dir})
	if err != nil {
		return err
	}
	r := router.New(router.Options{
		Certificate:       authority.Certificate,
		Resolve:           func(context.Context, string, uint16) (string, error) { return backend, nil },
		Box:               http.NotFoundHandler(),
		MaxConnsPerClient: 4 * IdleConns,
	})
	defer r.Close()
	if err := r.SetTable(router.Table{Routes: []router.Route{{Name: name, Package: m.ID, Port: 8080, Plain: true}}}); err != nil {
		return err
	}
	tl, _ := net.Listen("tcp", "127.0.0.1:0")
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	go r.ServeTLS(tl)
	go r.ServeHTTP(pl)
	tlsAddr, plainAddr := tl.Addr().String(), pl.Addr().String()

	// Wait for the app to answer.
	direct := client(backend, nil)
	for {
		resp, err := direct.Get("http://" + name + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the app never answered on %s: %v", backend, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tlsCfg := &tls.Config{RootCAs: authority.Pool(), ServerName: name}
	series := []struct {
		label string
		c     *http.Client
		url   string
	}{
		{"direct (container port)", direct, "http://" + name + "/"},
		{"router, plain HTTP/1.1", client(plainAddr, nil), "http://" + name + "/"},
		{"router, HTTPS HTTP/1.1", client(tlsAddr, tlsCfg), "https://" + name + "/"},
	}
	var base result
	for i, s := range series {
		res, err := load(ctx, s.c, s.url)
		if err != nil {
			return fmt.Errorf("%s: %w", s.label, err)
		}
		if i == 0 {
			base = res
		}
		fmt.Fprintf(w, "   %-26s %8.0f req/s  p50=%-9s p99=%-9s  %.2fx throughput, %+dµs p50\n", s.label, res.perSec, res.p50, res.p99,
			res.perSec/base.perSec, (res.p50 - base.p50).Microseconds())
	}

	hs, err := handshakes(ctx, tlsAddr, tlsCfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   TLS handshakes (ECDSA P-256, no resumption): %.0f/s over %d cores, %.0f/s per core\n", hs, runtime.GOMAXPROCS(0), hs/float64(runtime.GOMAXPROCS(0)))

	added, err := idleMemory(ctx, tlsAddr, tlsCfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   %d idle TLS client connections: +%.1f MiB heap and stacks (router and its clients in one process)\n", IdleConns, added)
	return nil
}

// client sends every request to addr, whatever the URL's host.
func client(addr string, cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig:     cfg,
		MaxIdleConnsPerHost: Workers,
	}}
}

type result struct {
	perSec   float64
	p50, p99 time.Duration
}

// load makes Requests requests with Workers keep-alive connections.
func load(ctx context.Context, c *http.Client, url string) (result, error) {
	lat := make([][]time.Duration, Workers)
	errs := make(chan error, Workers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range Requests / Workers {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := c.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	select {
	case err := <-errs:
		return result{}, err
	default:
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return result{perSec: float64(len(all)) / total.Seconds(), p50: all[len(all)/2].Round(time.Microsecond), p99: all[len(all)*99/100].Round(time.Microsecond)}, nil
}

// handshakes counts full handshakes for two seconds, one goroutine per core.
func handshakes(ctx context.Context, addr string, cfg *tls.Config) (float64, error) {
	n := runtime.GOMAXPROCS(0)
	counts := make([]int, n)
	errs := make(chan error, n)
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				c, err := tls.Dial("tcp", addr, cfg.Clone())
				if err != nil {
					errs <- err
					return
				}
				c.Close()
				counts[i]++
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// idleMemory opens IdleConns TLS connections that each finish one request
// and stay open, and reports the heap and stack growth.
func idleMemory(ctx context.Context, addr string, cfg *tls.Config) (float64, error) {
	before := inUse()
	conns := make([]net.Conn, 0, IdleConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range IdleConns {
		d := tls.Dialer{Config: cfg.Clone()}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return 0, err
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", name)
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(buf); err != nil {
			return 0, err
		}
	}
	after := inUse()
	return float64(after-before) / (1 << 20), nil
}

func inUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
