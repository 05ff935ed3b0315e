package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/rpc"
)

// Timeouts of the HTTP transport. Every TCP connection is bounded by one of
// them at every moment, so a client that sends slowly or not at all holds a
// file descriptor for a bounded time.
const (
	// HeaderTimeout bounds reading a request's headers.
	HeaderTimeout = 10 * time.Second
	// DefaultBodyTimeout bounds reading a request's body (1 MiB at most for
	// /rpc/v1). Uploads to /rest/rpc/<id> get it afresh whenever bytes
	// arrive, so a large upload may take as long as it keeps moving.
	DefaultBodyTimeout = 30 * time.Second
	// IdleTimeout ends a keep-alive connection that sends no new request.
	IdleTimeout = 2 * time.Minute
	// maxHeaderBytes bounds one request's headers.
	maxHeaderBytes = 64 << 10
)

// NewHTTPServer returns an http.Server for h with the transport's timeouts:
// headers within HeaderTimeout, idle keep-alive connections closed after
// IdleTimeout. Body read and response write deadlines are set per request by
// the Server's Handler (a WebSocket clears them and keeps its own); other
// handlers mounted beside it should set their own with
// http.ResponseController. Use it for every listener that serves Handler.
func NewHTTPServer(h http.Handler, log hclog.Logger) *http.Server {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: HeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	if log != nil {
		hs.ErrorLog = log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})
	}
	return hs
}

// ConnLimits caps the connections a listener holds open at once.
type ConnLimits struct {
	Total     int // all clients together
	PerClient int // one client address (IP, port ignored)
}

// DefaultConnLimits fits the caps to the process's file descriptor limit:
// at most half of it for one listener's connections (the rest is for the
// store, logs, Docker and the unix socket), at most 1024, and a quarter of
// that, at most 128, per client address. A browser opens about six.
func DefaultConnLimits() ConnLimits {
	total := 1024
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < uint64(2*total) {
		total = max(int(rl.Cur/2), 16)
	}
	return ConnLimits{Total: total, PerClient: max(min(total/4, 128), 4)}
}

// LimitListener wraps l so that it holds at most lim.Total connections, and
// lim.PerClient from one address. A connection over a cap is closed as soon
// as it is accepted, so the clients already connected keep being served and
// the kernel's backlog keeps draining. Wrap the raw TCP listener, under any
// TLS listener, so http.Server still sees *tls.Conn.
func LimitListener(l net.Listener, lim ConnLimits, log hclog.Logger) net.Listener {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &limitListener{Listener: l, lim: lim, log: log, perClient: map[string]int{}}
}

type limitListener struct {
	net.Listener
	lim ConnLimits
	log hclog.Logger

	mu         sync.Mutex
	total      int            // guarded by mu
	perClient  map[string]int // guarded by mu
	refused    uint64         // guarded by mu
	lastWarned time.Time      // guarded by mu
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOnly(c.RemoteAddr().String())
		ok, warn := l.admit(addr)
		if ok {
			return &limitedConn{Conn: c, release: func() { l.release(addr) }}, nil
		}
		c.Close()
		if warn != nil {
			l.log.Warn("connection refused: connection cap reached", warn...)
		}
	}
}

// admit takes a slot for addr. When it refuses, warn holds the log fields
// at most once a minute: the log is itself a target.
func (l *limitListener) admit(addr string) (ok bool, warn []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total < l.lim.Total && l.perClient[addr] < l.lim.PerClient {
		l.total++
		l.perClient[addr]++
		return true, nil
	}
	l.refused++
	if now := time.Now(); now.Sub(l.lastWarned) > time.Minute {
		l.lastWarned = now
		warn = []any{"client", addr, "open", l.total, "from-client", l.perClient[addr],
			"cap-total", l.lim.Total, "cap-per-client", l.lim.PerClient, "refused-so-far", l.refused}
	}
	return false, warn
}

func (l *limitListener) release(addr string) {
	l.mu.Lock()
	l.total--
	if l.perClient[addr]--; l.perClient[addr] <= 0 {
		delete(l.perClient, addr)
	}
	l.mu.Unlock()
}

// limitedConn gives its slot back when it is closed, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// RetryableAcceptError reports whether an Accept error is passing (out of
// file descriptors or memory, an aborted handshake, a timeout): the accept
// loop should wait and try again rather than stop serving.
func RetryableAcceptError(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// EchoProbe returns a liveness check for the watchdog: an echo call over a
// new TCP connection to addr each time, so a listener that has stopped
// accepting (out of descriptors, a wedged accept loop) fails it, where a
// kept-alive connection would still be answered.
func EchoProbe(addr string) func(context.Context) error {
	hc := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{Timeout: rpc.DialTimeout}).DialContext,
	}}
	return func(ctx context.Context) error {
		c, err := rpc.Dial(ctx, "http://"+addr, rpc.ClientOptions{HTTPClient: hc})
		if err != nil {
			return err
		}
		defer c.Close()
		var out string
		if err := c.Call(ctx, "echo", map[string]string{"message": "watchdog"}, &out); err != nil {
			return err
		}
		if out != "watchdog" {
			return fmt.Errorf("echo answered %q", out)
		}
		return nil
	}
}
