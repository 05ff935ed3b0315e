package rpc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// httpConns carries a client's RPC POSTs over plain HTTP/1.1 connections of
// its own, when the client's transport is the default one and no proxy
// applies. The calling goroutine writes its request and reads the answer
// itself, where http.Transport hands each request to a writer goroutine and
// each answer back from a reader goroutine: two goroutine hand-offs per call
// that were a third of an echo's cost. The wire format is net/http's own
// (Request.Write, ReadResponse). A connection is reused only after a whole
// answer, and only when the daemon has not closed it meanwhile (checked
// without blocking before each reuse, as http.Transport's reader goroutine
// notices it). Idle connections are kept as http.Transport keeps them: two
// at most, for 90 seconds.
type httpConns struct {
	addr string // host:port

	mu   sync.Mutex
	idle []*httpConn // guarded by mu
}

const (
	maxIdleHTTPConns = http.DefaultMaxIdleConnsPerHost
	httpIdleTimeout  = 90 * time.Second // http.DefaultTransport's
)

type httpConn struct {
	c       net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	expires *time.Timer // closes the connection once it has idled too long
}

// ownHTTPConns returns the connections for RPC POSTs to u with client hc,
// or nil when http.Transport must carry them: another transport than the
// default, TLS, or a proxy from the environment.
func ownHTTPConns(hc *http.Client, u *url.URL) *httpConns {
	if hc.Transport != nil || u.Scheme != "http" {
		return nil
	}
	if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || p != nil {
		return nil
	}
	return &httpConns{addr: canonicalAddr(u.Host)}
}

func canonicalAddr(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, "80")
}

// roundTrip sends req and reads the answer's head; closing the answer's body
// after reading it to the end gives the connection back.
func (p *httpConns) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	hc, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	// Cancellation ends a write or read under way; the connection is then
	// not reused.
	stop := context.AfterFunc(ctx, func() { hc.c.SetDeadline(time.Unix(1, 0)) })
	resp, err := hc.exchange(req)
	if err != nil {
		stop()
		hc.c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	resp.Body = &httpBody{ReadCloser: resp.Body, ctx: ctx, p: p, hc: hc, stop: stop, reuse: !resp.Close}
	return resp, nil
}

// exchange writes req and reads the head of its final answer.
func (hc *httpConn) exchange(req *http.Request) (*http.Response, error) {
	if err := req.Write(hc.bw); err != nil {
		return nil, err
	}
	if err := hc.bw.Flush(); err != nil {
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(hc.br, req)
		if err != nil {
			return nil, err
		}
		// Informational answers (103 Early Hints from a proxy) precede the
		// real one.
		if resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}

// get takes an idle connection the daemon has not closed, or dials one.
func (p *httpConns) get(ctx context.Context) (*httpConn, error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		hc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if hc.expires.Stop() && hc.usable() {
			return hc, nil
		}
		hc.c.Close()
	}
	d := net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return &httpConn{c: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}, nil
}

// usable reports whether an idle connection is still open, with nothing
// unread on it: the daemon closes idle keep-alive connections, and an
// answer it never sent must not be taken for one.
func (hc *httpConn) usable() bool {
	if hc.br.Buffered() > 0 {
		return false
	}
	sc, ok := hc.c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var perr error
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, perr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true // never wait: nothing to read is the good answer
	})
	return err == nil && errors.Is(perr, unix.EAGAIN)
}

// put keeps a connection whose answer was read to the end for the next
// call, or closes it when enough are idle.
func (p *httpConns) put(hc *httpConn) {
	p.mu.Lock()
	if len(p.idle) >= maxIdleHTTPConns {
		p.mu.Unlock()
		hc.c.Close()
		return
	}
	if hc.expires == nil {
		hc.expires = time.AfterFunc(httpIdleTimeout, func() { p.expire(hc) })
	} else {
		hc.expires.Reset(httpIdleTimeout)
	}
	p.idle = append(p.idle, hc)
	p.mu.Unlock()
}

// expire closes a connection that idled for httpIdleTimeout, unless a call
// took it meanwhile.
func (p *httpConns) expire(hc *httpConn) {
	p.mu.Lock()
	for i, h := range p.idle {
		if h == hc {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			p.mu.Unlock()
			hc.c.Close()
			return
		}
	}
	p.mu.Unlock()
}

// closeIdle closes every idle connection, as http.Client's
// CloseIdleConnections does.
func (p *httpConns) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, hc := range idle {
		hc.expires.Stop()
		hc.c.Close()
	}
}

// httpBody is an answer's body; closing it after reading it to the end
// gives its connection back.
type httpBody struct {
	io.ReadCloser
	ctx    context.Context
	p      *httpConns
	hc     *httpConn
	stop   func() bool // stops the cancellation of the call
	reuse  bool
	sawEOF bool
	done   bool
}

func (b *httpBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		b.sawEOF = true
	case err != nil && b.ctx.Err() != nil:
		err = b.ctx.Err() // the cancellation ended the read
	}
	return n, err
}

func (b *httpBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	reuse := b.stop() && b.reuse && b.sawEOF
	if !reuse {
		b.hc.c.Close() // first: closing the body would read the rest
	}
	err := b.ReadCloser.Close()
	if reuse {
		b.p.put(b.hc)
	}
	return err
}
