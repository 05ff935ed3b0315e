package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/net/mdns"
	"github.com/startos-go/startos/startos/net/router"
)

// caPath is where the box's root certificate is downloaded, on every
// listener, without authentication.
const caPath = "/static/local-root-ca.crt"

// withStatic adds the public static files to the RPC handler.
func withStatic(srv *startos.Server, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET "+caPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-x509-ca-cert")
		w.Header().Set("Content-Disposition", `attachment; filename="local-root-ca.crt"`)
		w.Write(srv.CACertificate())
	})
	return mux
}

// lanListeners are the router's sockets (either may be nil) and the mDNS
// responder (nil when the router listens on loopback only).
type lanListeners struct {
	tls, plain net.Listener
	mdns       *mdns.Responder
}

func (ls lanListeners) closeMDNS() {
	if ls.mdns != nil {
		ls.mdns.Close()
	}
}

// listenLAN opens the LAN listeners and starts the router on them. An empty
// address turns that listener off.
func listenLAN(srv *startos.Server, box http.Handler, tlsAddr, plainAddr string, errc chan<- error) (*router.Router, lanListeners, error) {
	var ls lanListeners
	if tlsAddr == "" {
		return nil, ls, nil
	}
	var err error
	if ls.tls, err = net.Listen("tcp", tlsAddr); err != nil {
		return nil, ls, fmt.Errorf("lan-listen %s: %w", tlsAddr, err)
	}
	if plainAddr != "" {
		if ls.plain, err = net.Listen("tcp", plainAddr); err != nil {
			ls.tls.Close()
			return nil, ls, fmt.Errorf("lan-http-listen %s: %w", plainAddr, err)
		}
	}
	host, _, _ := net.SplitHostPort(ls.tls.Addr().String())
	// mDNS on the interfaces the router listens on: a loopback router has
	// no LAN to announce to, so tests and just run send nothing.
	ifaces, err := mdns.InterfacesFor(host)
	if err != nil {
		srv.Logger().Warn("mdns: interfaces not listed; names are not published", "error", err)
	}
	if len(ifaces) > 0 {
		var addr net.IP
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			addr = ip
		}
		if ls.mdns, err = mdns.New(mdns.Options{Interfaces: ifaces, Address: addr, Logger: srv.Logger().Named("mdns")}); err != nil {
			srv.Logger().Warn("mdns: not answering; names resolve only through other DNS", "error", err)
		}
	}
	o := startos.LANOptions{Box: box, BoxPlainPaths: []string{caPath}, HTTPSPort: portOf(ls.tls), HTTPPort: portOf(ls.plain), ForwardHost: host, ProbeAddr: loopback(ls.tls)}
	if ls.mdns != nil {
		o.Names = ls.mdns.SetNames
	}
	r, err := srv.StartLAN(o)
	if err != nil {
		ls.closeMDNS()
		ls.tls.Close()
		if ls.plain != nil {
			ls.plain.Close()
		}
		return nil, ls, err
	}
	go func() { errc <- r.ServeTLS(ls.tls) }()
	if ls.plain != nil {
		go func() { errc <- r.ServeHTTP(ls.plain) }()
	}
	return r, ls, nil
}

func portOf(l net.Listener) int {
	if l == nil {
		return 0
	}
	return l.Addr().(*net.TCPAddr).Port
}

// loopback is an address on which this machine reaches listener l.
func loopback(l net.Listener) string {
	a := l.Addr().(*net.TCPAddr)
	if a.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port))
	}
	return a.String()
}

// printLAN says where the box answers on the LAN and how to trust it.
func printLAN(srv *startos.Server, ls lanListeners) {
	if ls.tls == nil {
		return
	}
	info, _ := srv.CA(context.Background())
	name := router.BoxName(srv.Hostname())
	url := "https://" + name
	if p := portOf(ls.tls); p != 443 {
		url += ":" + strconv.Itoa(p)
	}
	fmt.Fprintf(os.Stderr, "startd LAN: %s (listening on %s", url, ls.tls.Addr())
	if ls.plain != nil {
		fmt.Fprintf(os.Stderr, ", plain HTTP on %s", ls.plain.Addr())
	}
	fmt.Fprintf(os.Stderr, "); trust the box's CA %s (SHA-256 %s)\n", caPath, info.Fingerprint)
}
