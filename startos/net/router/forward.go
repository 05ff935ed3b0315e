package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// forwarder is one raw TCP forward: a listener on the box and a copy loop
// per connection to the container port.
type forwarder struct {
	fwd    Forward
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// syncForwards opens forwards that are new and closes those that are gone
// or changed. Listening happens outside the lock.
func (r *Router) syncForwards(want []Forward) error {
	wantBy := map[uint16]Forward{}
	for _, f := range want {
		wantBy[f.Port] = f
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	var stale []*forwarder
	for port, f := range r.forwards {
		if w, ok := wantBy[port]; !ok || w != f.fwd {
			stale = append(stale, f)
			delete(r.forwards, port)
		}
	}
	var add []Forward
	for port, f := range wantBy {
		if _, ok := r.forwards[port]; !ok {
			add = append(add, f)
		}
	}
	r.mu.Unlock()
	for _, f := range stale {
		f.close()
	}
	var errs []error
	for _, f := range add {
		ln, err := net.Listen("tcp", net.JoinHostPort(r.o.ForwardHost, strconv.Itoa(int(f.Port))))
		if err != nil {
			errs = append(errs, fmt.Errorf("forward port %d to %s (%s): %w", f.Port, f.Package, f.Interface, err))
			continue
		}
		fw := &forwarder{fwd: f, ln: r.limiter.wrap(ln)}
		fw.ctx, fw.cancel = context.WithCancel(context.Background())
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			ln.Close()
			continue
		}
		r.forwards[f.Port] = fw
		r.wg.Add(1)
		r.mu.Unlock()
		go func() {
			defer r.wg.Done()
			r.serveForward(fw)
		}()
	}
	return errors.Join(errs...)
}

func (r *Router) serveForward(fw *forwarder) {
	for {
		c, err := fw.ln.Accept()
		if err != nil {
			fw.wg.Wait()
			return
		}
		fw.wg.Add(1)
		go func() {
			defer fw.wg.Done()
			r.pipe(fw, c)
		}()
	}
}

// pipe copies both ways between a client and the container until either
// side closes or the forward is closed.
func (r *Router) pipe(fw *forwarder, client net.Conn) {
	defer client.Close()
	ctx, cancel := context.WithTimeout(fw.ctx, r.o.DialTimeout)
	addr, err := r.o.Resolve(ctx, fw.fwd.Package, fw.fwd.Target)
	var up net.Conn
	if err == nil {
		up, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	cancel()
	if err != nil {
		r.log.Debug("forward: upstream unavailable", "port", fw.fwd.Port, "package", fw.fwd.Package, "error", err)
		return
	}
	defer up.Close()
	stop := context.AfterFunc(fw.ctx, func() { client.Close(); up.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // ends when either side closes
		// Half-close so the other direction can finish its reply.
		if tc, ok := dst.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		} else {
			dst.SetDeadline(time.Now())
		}
		done <- struct{}{}
	}
	go cp(up, client)
	go cp(client, up)
	<-done
	<-done
}

func (f *forwarder) close() {
	f.cancel()
	f.ln.Close()
}
