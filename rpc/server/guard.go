package server

import (
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/caller"
)

// hostPolicy decides which Host and Origin headers a request over TCP may
// carry. A browser page whose name was made to resolve to the box (DNS
// rebinding) sends its own name as Host; a page on another origin sends its
// origin as Origin. Both are refused before any method runs.
type hostPolicy struct {
	names []string // lower case; an entry starting with "." allows every subdomain
	// dynamic, when set, adds names that change while the daemon runs (the
	// hostname chosen at setup).
	dynamic func() []string
}

func newHostPolicy(extra []string, dynamic func() []string) hostPolicy {
	p := hostPolicy{dynamic: dynamic}
	if h, err := os.Hostname(); err == nil && h != "" {
		h = strings.ToLower(h)
		p.names = append(p.names, h, h+".local")
	}
	for _, n := range extra {
		if n = normalizeHost(n); n != "" {
			p.names = append(p.names, n)
		}
	}
	return p
}

// normalizeHost lowers a host name and drops its port and trailing dot.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimPrefix(strings.TrimSuffix(h, "]"), "[")
	return strings.TrimSuffix(h, ".")
}

// hostAllowed: an IP literal (a page reached by address cannot be rebound),
// localhost and its subdomains, the machine's hostname (and .local), or a
// configured name.
func (p hostPolicy) hostAllowed(host string) bool {
	h := normalizeHost(host)
	switch {
	case h == "":
		return false
	case net.ParseIP(h) != nil:
		return true
	case h == "localhost" || strings.HasSuffix(h, ".localhost"):
		return true
	}
	return p.configured(h)
}

func (p hostPolicy) configured(h string) bool {
	for _, n := range p.names {
		if n == h || (strings.HasPrefix(n, ".") && strings.HasSuffix(h, n)) {
			return true
		}
	}
	if p.dynamic != nil {
		for _, n := range p.dynamic() {
			if normalizeHost(n) == h {
				return true
			}
		}
	}
	return false
}

// originAllowed: the request's own origin (the page came from the box's
// Host), or a configured name. Loopback addresses are not enough: a package's
// web UI published on 127.0.0.1 is another origin.
func (p hostPolicy) originAllowed(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // includes "null" (sandboxed frames, file://)
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	return p.configured(normalizeHost(u.Host))
}

// guard checks every request before routing: Host and Origin over TCP (the
// unix socket has no browser), the JSON content type on /rpc/, and it arms
// the read and write deadlines that handlers then narrow or lift.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.armDeadlines(w)
		if _, socket := r.Context().Value(socketCallerKey{}).(caller.Caller); !socket {
			if !s.hosts.hostAllowed(r.Host) {
				http.Error(w, "Host "+quoteHeader(r.Host)+" is not a name of this box; add it with startd --allowed-host", http.StatusForbidden)
				return
			}
			if o := r.Header.Get("Origin"); o != "" && !s.hosts.originAllowed(o, r.Host) {
				http.Error(w, "cross-origin request refused: Origin "+quoteHeader(o)+" is not this box's", http.StatusForbidden)
				return
			}
		}
		if strings.HasPrefix(r.URL.Path, "/rpc/") && r.Method == http.MethodPost {
			if ct := r.Header.Get("Content-Type"); ct != "application/json" && !isJSONMediaType(ct) {
				http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// isJSONMediaType reports whether a Content-Type names application/json,
// with parameters or in another spelling.
func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func quoteHeader(v string) string {
	if len(v) > 100 {
		v = v[:100] + "..."
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, v) + `"`
}

// armDeadlines bounds a request's body read by the body timeout, and the
// whole exchange by that plus WriteTimeout. Handlers lift the read deadline
// once the body is in (an expired one would cancel a long call's context)
// and set the write deadline afresh just before they answer.
func (s *Server) armDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	now := time.Now()
	rc.SetReadDeadline(now.Add(s.bodyTimeout))
	rc.SetWriteDeadline(now.Add(s.bodyTimeout + rpc.WriteTimeout))
}

// bodyRead lifts the read deadline after the body has been read.
func bodyRead(w http.ResponseWriter) { http.NewResponseController(w).SetReadDeadline(time.Time{}) }

// armWrite gives the answer WriteTimeout from now.
func armWrite(w http.ResponseWriter) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(rpc.WriteTimeout))
}

// liftDeadlines is for a connection that keeps its own (WebSocket).
func liftDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
}

// progressBody gives each read of an upload's body the timeout afresh, so an
// upload may be long (and the installer may pause between reads) but a
// client that stops sending is cut off. The end of the body lifts it; a
// failed read leaves it, so the connection ends.
type progressBody struct {
	r       io.Reader
	rc      *http.ResponseController
	timeout time.Duration
}

func (b *progressBody) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		b.rc.SetReadDeadline(time.Time{}) // the install may outlast it
	}
	return n, err
}
