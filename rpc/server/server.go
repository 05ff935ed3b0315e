// Package server serves StartOS's one RPC surface: the method table with the
// library call behind each method (Table), the dispatcher, the transports
// (HTTP POST, WebSocket, unix socket), the auth middleware and Host/Origin
// guard, HTTP stream continuations, uploads, static files and /metrics, and
// the mapping from library errors to wire codes (errors.go).
//
// The table is the single source of truth: the dispatcher, rpc.discover,
// docs/api.md and rpc.Table (what clients and start-cli read) are all derived
// from it. A method is one line that binds a library function; logic lives
// in the library.
package server

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/internal/retry"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/rpc/internal/jsonstream"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/caller"
	"github.com/startos-go/startos/startos/static"
)

// Options configure a Server.
type Options struct {
	Logger hclog.Logger
	// AllowedHosts are the names, besides IP literals, localhost and the
	// machine's hostname (and hostname.local), that a request over TCP may
	// carry in Host, and that an Origin may name. ".example.org" allows
	// every subdomain.
	AllowedHosts []string
	// HostNames, when set, is asked for further allowed names (exact) when
	// a request's name is not among the above: names that change while the
	// daemon runs, such as the hostname chosen at setup. It must be cheap.
	HostNames func() []string
	// BodyTimeout bounds reading one request body; 0 means
	// DefaultBodyTimeout.
	BodyTimeout time.Duration
	// Methods are served besides Table, replacing entries of the same
	// name: tests use it to reach the error, panic and cancellation paths
	// through the real transports.
	Methods []*Method
}

// Server serves the method table over HTTP POST, WebSocket and unix sockets.
type Server struct {
	d           dispatcher
	log         hclog.Logger
	hosts       hostPolicy
	bodyTimeout time.Duration

	ctx    context.Context // ends stream connections at shutdown
	cancel context.CancelFunc
	calls  sync.WaitGroup // in-flight calls on every transport

	mu       sync.Mutex
	closing  bool                      // guarded by mu
	conns    map[*streamConn]struct{}  // guarded by mu
	sockets  map[net.Listener]struct{} // guarded by mu
	accepted sync.WaitGroup            // accept loops and stream connections
	unwatch  func()                    // stops the session-end watch
	conts    continuations             // streams opened over HTTP
}

// New returns a Server that serves Table (and opts.Methods) by calling lib.
// Besides the table, the transports ask lib who a cookie belongs to
// (auth.go), for static files and uploads, for the Prometheus handler and
// for the state revision after a mutating call.
func New(lib *startos.Server, opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	bodyTimeout := opts.BodyTimeout
	if bodyTimeout <= 0 {
		bodyTimeout = DefaultBodyTimeout
	}
	methods := tableSet
	if len(opts.Methods) > 0 {
		methods = newMethodSet(Table, opts.Methods)
	}
	s := &Server{
		d:           dispatcher{lib: lib, methods: methods, log: log},
		log:         log,
		hosts:       newHostPolicy(opts.AllowedHosts, opts.HostNames),
		bodyTimeout: bodyTimeout,
		ctx:         ctx,
		cancel:      cancel,
		conns:       make(map[*streamConn]struct{}),
		sockets:     make(map[net.Listener]struct{}),
	}
	s.unwatch = lib.WatchSessionEnds(s.closeSessions)
	return s
}

// Handler routes POST /rpc/v1 (and any /rpc/ path, as StartOS does),
// GET /ws/rpc and /rest/rpc/<id>, behind the Host, Origin and Content-Type
// checks and the per-request deadlines (see guard).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/rpc/", s.serveHTTP)
	mux.HandleFunc("/ws/rpc", s.serveWebSocket)
	mux.HandleFunc("/ws/rpc/", s.serveContinuation)
	mux.HandleFunc("/rest/rpc/", s.serveUpload)
	mux.HandleFunc(static.URLPrefix, s.serveStatic)
	mux.HandleFunc(MetricsPath, s.serveMetrics)
	return s.guard(mux)
}

// run dispatches one call.
func (s *Server) run(ctx context.Context, req *request) outcome {
	return s.d.dispatch(ctx, req)
}

// begin counts a call (with its reply) so Shutdown can wait for it; it
// refuses once Shutdown has started. Every begin that succeeds needs an end.
func (s *Server) begin() *rpc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return rpc.NewError(rpc.CodeUnavailable, "Unavailable", "the daemon is shutting down")
	}
	s.calls.Add(1)
	return nil
}

func (s *Server) end() { s.calls.Done() }

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	who := s.identify(r)
	if !who.Authenticated() {
		http.Error(w, "authentication required: log in (auth.login) for a session cookie, or use the local socket", http.StatusUnauthorized)
		return
	}
	// guard has checked Host and Origin (against the configured names too,
	// which Accept's own same-origin check does not know), so Accept skips
	// its check. The connection then lives under its own deadlines (every
	// write bounded by WriteTimeout), not the request's.
	if !s.admit(w) {
		return
	}
	defer s.accepted.Done()
	liftDeadlines(w)
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c.SetReadLimit(rpc.MaxBodyBytes)
	peer := Peer{Transport: "websocket", RemoteAddr: r.RemoteAddr, UID: -1}
	s.serveStream(s.ctx, &jsonstream.WSFramer{C: c, Ctx: s.ctx}, peer, who)
}

// ServeSocket accepts unix socket connections on l until Shutdown or an
// accept error that does not pass (those that do, such as EMFILE, are
// retried with backoff). Each peer's credentials decide whether it is the local
// administrator: root or the daemon's own user.
func (s *Server) ServeSocket(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return http.ErrServerClosed
	}
	s.sockets[l] = struct{}{}
	s.accepted.Add(1)
	s.mu.Unlock()
	defer s.accepted.Done()
	// net/http's retry delay after a passing accept error: 5 ms doubling to
	// 1 s, reset by a successful accept.
	backoff := retry.Backoff{First: 5 * time.Millisecond, Max: time.Second}
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			if !closing && RetryableAcceptError(err) {
				s.mu.Unlock()
				// Out of descriptors (EMFILE) and the like pass: keep the
				// socket, as net/http does, instead of leaving the daemon.
				s.log.Warn("unix socket accept failed; retrying", "error", err)
				if backoff.Sleep(s.ctx) {
					continue
				}
				s.mu.Lock()
				closing = true
			}
			delete(s.sockets, l)
			s.mu.Unlock()
			if closing {
				return http.ErrServerClosed
			}
			return err
		}
		backoff.Reset()
		s.accepted.Add(1)
		go func() {
			defer s.accepted.Done()
			s.serveSocketConn(c)
		}()
	}
}

// serveSocketConn serves one socket connection: newline-delimited JSON-RPC,
// or HTTP when the peer starts with an HTTP request line, so large uploads
// (/rest/rpc/<id>) work on the box without a TCP listener.
func (s *Server) serveSocketConn(c net.Conn) {
	peer := unixPeer(c)
	who := caller.Caller{Local: peer.Local, Addr: "unix"}
	br := bufio.NewReaderSize(c, 64<<10)
	_ = c.SetReadDeadline(time.Now().Add(rpc.WriteTimeout))
	head, _ := br.Peek(5)
	_ = c.SetReadDeadline(time.Time{})
	if looksLikeHTTP(head) {
		s.serveHTTPConn(&peekedConn{Conn: c, r: br}, peer, who)
		return
	}
	s.serveStream(s.ctx, jsonstream.NewLineFramer(c, br, rpc.MaxBodyBytes), peer, who)
}

// looksLikeHTTP: a JSON-RPC stream starts with '{' (or whitespace), an HTTP
// request with a method name.
func looksLikeHTTP(head []byte) bool {
	for _, m := range []string{"POST ", "PUT ", "GET ", "HEAD "} {
		if len(head) >= 4 && strings.HasPrefix(m, string(head[:min(len(head), len(m))])) {
			return true
		}
	}
	return false
}

// peekedConn is a conn whose first bytes were read into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// serveHTTPConn runs the HTTP handler on one socket connection, with the
// socket peer's identity in place of cookies.
func (s *Server) serveHTTPConn(c net.Conn, peer Peer, who caller.Caller) {
	l := &oneConnListener{conn: c, done: make(chan struct{})}
	hs := NewHTTPServer(s.Handler(), s.log)
	hs.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return withSocketCaller(withPeer(ctx, peer), who)
	}
	hs.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			l.closeOnce.Do(func() { close(l.done) })
		}
	}
	go func() {
		select {
		case <-l.done:
		case <-s.ctx.Done():
			c.Close()
		}
	}()
	_ = hs.Serve(l)
}

// oneConnListener hands out one connection, then blocks until it is closed.
type oneConnListener struct {
	conn      net.Conn
	used      bool
	done      chan struct{}
	closeOnce sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.used {
		l.used = true
		return l.conn, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

type socketCallerKey struct{}

func withSocketCaller(ctx context.Context, who caller.Caller) context.Context {
	return context.WithValue(ctx, socketCallerKey{}, who)
}

// unixPeer reads the peer's credentials from the socket.
func unixPeer(c net.Conn) Peer {
	p := Peer{Transport: "unix", RemoteAddr: "unix", UID: -1}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return p
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return p
	}
	var cred *unix.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return p
	}
	p.UID = int(cred.Uid)
	p.Local = cred.Uid == 0 || int(cred.Uid) == os.Getuid()
	return p
}

// ListenSocket creates the unix socket at path, replacing a stale one, with
// mode 0660.
func ListenSocket(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (s *Server) track(c *streamConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *streamConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, lets in-flight calls finish and deliver their
// replies until ctx ends, then closes every stream connection and waits for
// all goroutines the Server started. HTTP listeners belong to the caller's
// http.Server, which has its own Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.sockets {
		l.Close()
	}
	s.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		s.calls.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.mu.Lock()
	conns := make([]*streamConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.stream.FlushAndClose(time.Second)
	}
	s.conts.endSessions(nil)
	s.cancel()
	s.accepted.Wait()
	s.unwatch()
	return err
}

// admit counts a WebSocket connection before its upgrade, so Shutdown waits
// for it; once the server is closing it answers 503 and returns false. The
// caller calls s.accepted.Done when the connection ends. Counted under mu:
// an Add while Shutdown waits on a zero count is a race (Shutdown sets
// closing first).
func (s *Server) admit(w http.ResponseWriter) bool {
	s.mu.Lock()
	closing := s.closing
	if !closing {
		s.accepted.Add(1)
	}
	s.mu.Unlock()
	if closing {
		http.Error(w, "the daemon is shutting down", http.StatusServiceUnavailable)
	}
	return !closing
}
