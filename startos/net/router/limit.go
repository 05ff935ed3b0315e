package router

import (
	"net"
	"sync"
)

// limiter bounds the connections one client address may hold open, so one
// device opening thousands of idle connections cannot starve the others,
// and remembers every open connection so Close can end them all (hijacked
// WebSocket connections included, which http.Server.Close leaves open).
type limiter struct {
	max int

	mu     sync.Mutex
	closed bool
	perIP  map[string]int
	open   map[*limitedConn]struct{}
}

func newLimiter(max int) *limiter {
	return &limiter{max: max, perIP: map[string]int{}, open: map[*limitedConn]struct{}{}}
}

func (l *limiter) wrap(ln net.Listener) net.Listener { return &limitedListener{Listener: ln, l: l} }

// admit counts c against its client; false means over the bound.
func (l *limiter) admit(c *limitedConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.perIP[c.ip] >= l.max {
		return false
	}
	l.perIP[c.ip]++
	l.open[c] = struct{}{}
	return true
}

func (l *limiter) release(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.open[c]; !ok {
		return
	}
	delete(l.open, c)
	if l.perIP[c.ip]--; l.perIP[c.ip] <= 0 {
		delete(l.perIP, c.ip)
	}
}

// closeAll closes every tracked connection and refuses new ones.
func (l *limiter) closeAll() {
	l.mu.Lock()
	l.closed = true
	conns := make([]*limitedConn, 0, len(l.open))
	for c := range l.open {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close() // outside the lock: Close may block on the socket
	}
}

// clients is how many connections each client holds (for tests).
func (l *limiter) clients(ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perIP[ip]
}

type limitedListener struct {
	net.Listener
	l *limiter
}

func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := c.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
		lc := &limitedConn{Conn: c, l: ll.l, ip: ip}
		if !ll.l.admit(lc) {
			c.Close()
			continue
		}
		return lc, nil
	}
}

type limitedConn struct {
	net.Conn
	l    *limiter
	ip   string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// CloseWrite half-closes a TCP connection, for the raw forwards.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
