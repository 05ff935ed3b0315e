// Package router is the box's LAN front door: one TLS listener that picks a
// certificate and a backend by SNI, one plain HTTP listener that routes by
// Host, and raw TCP forwards for non-HTTP ports. Backends are container
// ports published on 127.0.0.1; the router asks Resolve for the address at
// each new upstream connection, so a restarted container's new port is
// found without the router being told.
package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Route sends one LAN name to one container port of a package.
type Route struct {
	Name      string // e.g. main-hello-box.local
	Package   string // package id
	Title     string // the package's title, for the error page
	Interface string
	Port      uint16 // container port
	// Plain allows the route on the plain HTTP listener; otherwise plain
	// requests for it are redirected to https.
	Plain bool
}

// Forward forwards one box TCP port to one container port.
type Forward struct {
	Port      uint16 // port on the box's LAN address
	Package   string
	Interface string
	Target    uint16 // container port
}

// Table is everything the router serves; replace it whole with SetTable.
type Table struct {
	Box      []string // names that serve the box's own surface
	Routes   []Route
	Forwards []Forward
}

// Unavailable is what Resolve returns when a package cannot take traffic
// now; Status is shown on the 502 page.
type Unavailable struct {
	Package, Status string
}

func (u *Unavailable) Error() string {
	return fmt.Sprintf("package %s is %s", u.Package, u.Status)
}

// Options configure New.
type Options struct {
	// Certificate returns the leaf for a name the router serves.
	Certificate func(name string) (*tls.Certificate, error)
	// Resolve returns the loopback address (host:port) where port of pkg
	// is published now, or an *Unavailable.
	Resolve func(ctx context.Context, pkg string, port uint16) (string, error)
	// Box serves the box's own names (the RPC surface).
	Box http.Handler
	// BoxPlainPaths are paths of the box served over plain HTTP too, not
	// redirected: the root CA a device downloads before it trusts https.
	BoxPlainPaths []string
	Logger        hclog.Logger
	// ForwardHost is the address raw TCP forwards listen on ("" = all).
	ForwardHost string
	// HTTPSPort is the port https URLs carry (443 omits it); redirects use it.
	HTTPSPort int

	MaxConnsPerClient int           // default 256
	ReadHeaderTimeout time.Duration // default 10 s
	IdleTimeout       time.Duration // default 2 min
	DialTimeout       time.Duration // default 5 s
	// WriteTimeout bounds a whole response; 0 leaves it unbounded, since a
	// proxied download or WebSocket may rightly last long. Slow readers
	// are instead bounded by the TCP stack and IdleTimeout.
	WriteTimeout time.Duration
}

// Router is the LAN front door. Create it with New, serve listeners with
// ServeTLS / ServeHTTP, and stop it with Close.
type Router struct {
	o     Options
	log   hclog.Logger
	table atomic.Pointer[index]
	proxy *httputil.ReverseProxy

	mu       sync.Mutex
	closed   bool
	servers  []*http.Server
	forwards map[uint16]*forwarder
	limiter  *limiter
	wg       sync.WaitGroup
}

// index is a Table made fast to look up.
type index struct {
	box      map[string]bool
	routes   map[string]*Route
	forwards []Forward
}

type routeKey struct{}

// New makes a Router with an empty table.
func New(o Options) *Router {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.MaxConnsPerClient <= 0 {
		o.MaxConnsPerClient = 256
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.HTTPSPort == 0 {
		o.HTTPSPort = 443
	}
	r := &Router{o: o, log: o.Logger, forwards: map[uint16]*forwarder{}, limiter: newLimiter(o.MaxConnsPerClient)}
	r.table.Store(&index{box: map[string]bool{}, routes: map[string]*Route{}})
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		// The upstream address is looked up per connection: the URL's
		// host is only the route's name, the pool's key.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			rt, _ := ctx.Value(routeKey{}).(*Route)
			if rt == nil {
				return nil, errors.New("router: no route in the request")
			}
			addr, err := o.Resolve(ctx, rt.Package, rt.Port)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, "tcp", addr)
		},
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // a service may take its time; the client decides
		ForceAttemptHTTP2:     false,
	}
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			rt := pr.In.Context().Value(routeKey{}).(*Route)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = rt.Name
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: transport,
		// The default flushes server-sent events and unknown-length
		// streams at once and buffers the rest (-1 costs a write per chunk).
		FlushInterval: 0,
		ErrorHandler:  r.upstreamError,
		ErrorLog:      o.Logger.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	return r
}

// SetTable replaces what the router serves, opening and closing TCP
// forwards to match. It returns the forwards that could not listen.
func (r *Router) SetTable(t Table) error {
	ix := &index{box: map[string]bool{}, routes: map[string]*Route{}, forwards: t.Forwards}
	for _, n := range t.Box {
		ix.box[strings.ToLower(n)] = true
	}
	for i := range t.Routes {
		rt := t.Routes[i]
		ix.routes[strings.ToLower(rt.Name)] = &rt
	}
	r.table.Store(ix)
	return r.syncForwards(t.Forwards)
}

// Names is every name the router answers for, for the mDNS responder.
func (r *Router) Names() []string {
	ix := r.table.Load()
	out := make([]string, 0, len(ix.box)+len(ix.routes))
	for n := range ix.box {
		out = append(out, n)
	}
	for n := range ix.routes {
		out = append(out, n)
	}
	return out
}

// serves reports whether name has a certificate from this router.
func (r *Router) serves(name string) bool {
	ix := r.table.Load()
	return ix.box[name] || ix.routes[name] != nil
}

// TLSConfig is the router's TLS configuration: a leaf per SNI name it
// serves, an alert for any other (or none).
func (r *Router) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
			if name == "" || !r.serves(name) {
				return nil, fmt.Errorf("router: no such name %q", hello.ServerName)
			}
			return r.o.Certificate(name)
		},
	}
}

// ServeTLS serves HTTPS (HTTP/1.1 and HTTP/2) on ln until Close.
func (r *Router) ServeTLS(ln net.Listener) error {
	srv := r.server(true)
	if srv == nil {
		return http.ErrServerClosed
	}
	srv.TLSConfig = r.TLSConfig()
	return srv.ServeTLS(r.limiter.wrap(ln), "", "")
}

// ServeHTTP serves plain HTTP on ln until Close: routes allowed in plain,
// redirects to https for the rest.
func (r *Router) ServeHTTP(ln net.Listener) error {
	srv := r.server(false)
	if srv == nil {
		return http.ErrServerClosed
	}
	return srv.Serve(r.limiter.wrap(ln))
}

func (r *Router) server(secure bool) *http.Server {
	srv := &http.Server{
		Handler:           r.handler(secure),
		ReadHeaderTimeout: r.o.ReadHeaderTimeout,
		IdleTimeout:       r.o.IdleTimeout,
		WriteTimeout:      r.o.WriteTimeout,
		ErrorLog:          r.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
		MaxHeaderBytes:    64 << 10,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.servers = append(r.servers, srv)
	return srv
}

// handler routes one request by Host (which must match SNI over TLS).
func (r *Router) handler(secure bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		host := hostOnly(req.Host)
		if secure && req.TLS != nil && !strings.EqualFold(host, req.TLS.ServerName) {
			http.Error(w, "421 misdirected request: the Host header names another site than the TLS connection", http.StatusMisdirectedRequest)
			return
		}
		ix := r.table.Load()
		if ix.box[host] {
			if !secure && !slices.Contains(r.o.BoxPlainPaths, req.URL.Path) {
				r.redirect(w, req, host)
				return
			}
			r.o.Box.ServeHTTP(w, req)
			return
		}
		rt := ix.routes[host]
		if rt == nil {
			http.Error(w, "421 misdirected request: this box serves no site named "+template.HTMLEscapeString(host), http.StatusMisdirectedRequest)
			return
		}
		if !secure && !rt.Plain {
			r.redirect(w, req, host)
			return
		}
		r.proxy.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), routeKey{}, rt)))
	})
}

func (r *Router) redirect(w http.ResponseWriter, req *http.Request, host string) {
	target := "https://" + host
	if r.o.HTTPSPort != 443 {
		target += fmt.Sprintf(":%d", r.o.HTTPSPort)
	}
	http.Redirect(w, req, target+req.URL.RequestURI(), http.StatusPermanentRedirect)
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

var unavailablePage = template.Must(template.New("502").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}} is {{.Status}}</title></head>
<body><h1>{{.Title}} is {{.Status}}</h1>
<p>The service <b>{{.Title}}</b> ({{.Package}}) is not answering: it is <b>{{.Status}}</b>.
Start it from your StartOS box, then reload this page.</p></body></html>
`))

// upstreamError answers 502 with a page naming the service and its status.
func (r *Router) upstreamError(w http.ResponseWriter, req *http.Request, err error) {
	rt, _ := req.Context().Value(routeKey{}).(*Route)
	if rt == nil || errors.Is(err, context.Canceled) {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	status := "not answering"
	var u *Unavailable
	if errors.As(err, &u) {
		status = u.Status
	}
	title := rt.Title
	if title == "" {
		title = rt.Package
	}
	r.log.Debug("upstream unavailable", "name", rt.Name, "package", rt.Package, "error", err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadGateway)
	_ = unavailablePage.Execute(w, map[string]string{"Title": title, "Package": rt.Package, "Status": status})
}

// Close stops every listener and forward and waits for their goroutines.
// Proxied connections in flight are closed.
func (r *Router) Close() error {
	r.mu.Lock()
	r.closed = true
	servers := r.servers
	r.servers = nil
	fwds := r.forwards
	r.forwards = map[uint16]*forwarder{}
	r.mu.Unlock()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Close())
	}
	for _, f := range fwds {
		f.close()
	}
	r.limiter.closeAll()
	r.wg.Wait()
	if t, ok := r.proxy.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes.
func (r *Router) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	servers := append([]*http.Server(nil), r.servers...)
	r.mu.Unlock()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	return errors.Join(append(errs, r.Close())...)
}
