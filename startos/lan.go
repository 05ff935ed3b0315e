package startos

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/net/ca"
	"github.com/startos-go/startos/startos/net/lan"
	"github.com/startos-go/startos/startos/net/router"
	"github.com/startos-go/startos/startos/service"
	"github.com/startos-go/startos/startos/watchdog"
)

// LANOptions configure StartLAN. The listeners are the caller's; these say
// how to describe and reach them.
type LANOptions struct {
	// Box serves the box's own surface at https://<hostname>.local.
	Box http.Handler
	// HTTPSPort and HTTPPort are the ports the router's listeners are on
	// (for URLs; 443 and 80 are left out). HTTPPort 0: no plain listener.
	HTTPSPort, HTTPPort int
	// ForwardHost is the address raw TCP forwards listen on; "" = all.
	ForwardHost string
	// ProbeAddr is a loopback address of the TLS listener; when set, a
	// watchdog probe does a real handshake and request through it.
	ProbeAddr         string
	MaxConnsPerClient int
	// BoxPlainPaths are box paths served over plain HTTP, not redirected
	// (the root CA download).
	BoxPlainPaths []string
	// Names, when set, is told every LAN name the box answers for each time
	// they change (the mDNS responder).
	Names func(names []string)
}

// lanState is what StartLAN runs.
type lanState struct {
	o        LANOptions
	router   *router.Router
	follower *follower
	// manifests caches each package's parsed manifest by its bytes; only
	// the follower's passes touch it.
	manifests map[string]cachedManifest

	mu    sync.Mutex
	ports map[string]cachedPorts // by package: published ports, briefly cached
}

type cachedPorts struct {
	at    time.Time
	ports map[uint16]string
}

// portsTTL bounds how long a looked-up published port is trusted: a
// restarted container gets a new ephemeral port.
const portsTTL = time.Second

// openCA loads the box's root CA from <data-dir>/ca, creating it once.
func (s *Server) openCA() error {
	authority, err := ca.Open(ca.Options{Dir: s.path("ca"), Now: s.cfg.Now})
	if err != nil {
		return fmt.Errorf("startos: %w", err)
	}
	s.ca = authority
	return nil
}

// CA is the box's root certificate (PEM) and its fingerprint.
func (s *Server) CA(context.Context) (model.CAInfo, error) {
	return model.CAInfo{PEM: string(s.ca.PEM()), Fingerprint: s.ca.Fingerprint()}, nil
}

// CACertificate is the root certificate, PEM-encoded, for
// /static/local-root-ca.crt.
func (s *Server) CACertificate() []byte { return s.ca.PEM() }

// StartLAN makes the LAN router and keeps its table, the names and the
// document's interface addresses in step with the installed packages and
// the hostname. Serve listeners with the returned router; Close stops it.
func (s *Server) StartLAN(o LANOptions) (*router.Router, error) {
	if s.lan != nil {
		return nil, fmt.Errorf("startos: the LAN router is already started: %w", errdefs.ErrInvalidRequest)
	}
	if o.HTTPSPort == 0 {
		o.HTTPSPort = 443
	}
	l := &lanState{o: o, ports: map[string]cachedPorts{}, manifests: map[string]cachedManifest{}}
	l.router = router.New(router.Options{
		Certificate: s.ca.Certificate,
		Resolve: func(ctx context.Context, pkg string, port uint16) (string, error) {
			return s.lanResolve(ctx, l, pkg, port)
		},
		Box:               o.Box,
		BoxPlainPaths:     o.BoxPlainPaths,
		Logger:            s.log.Named("lan"),
		ForwardHost:       o.ForwardHost,
		HTTPSPort:         o.HTTPSPort,
		MaxConnsPerClient: o.MaxConnsPerClient,
	})
	s.lan = l
	fl, err := s.follow("lan", lanInput, func(ctx context.Context) { s.lanReconcile(ctx, l) })
	if err != nil {
		s.lan = nil
		return nil, err
	}
	l.follower = fl
	if o.ProbeAddr != "" {
		if err := s.addLANProbe(o.ProbeAddr); err != nil {
			return nil, err
		}
	}
	return l.router, nil
}

func (s *Server) closeLAN() error {
	l := s.lan
	if l == nil {
		return nil
	}
	l.follower.stop()
	return l.router.Close()
}

// lanPlan is the router table and the addresses the document should hold.
type lanPlan struct {
	table     router.Table
	addresses map[string]map[string]model.InterfaceAddresses // package -> interface -> addresses
	boxHost   model.Host                                     // serverInfo.network.host
	hostHad   model.Host                                     // what the revision planned from holds
}

// cachedManifest is a manifest and the bytes it was parsed from.
type cachedManifest struct {
	raw json.RawMessage
	mf  *manifest.Manifest
}

// manifestOf is e's manifest, parsed once per version of its bytes.
func (l *lanState) manifestOf(id string, e *model.PackageDataEntry) *manifest.Manifest {
	if c, ok := l.manifests[id]; ok && bytes.Equal(c.raw, e.StateInfo.Manifest) {
		return c.mf
	}
	mf := entryManifest(e)
	l.manifests[id] = cachedManifest{raw: e.StateInfo.Manifest, mf: mf}
	return mf
}

// planLAN derives the plan from a revision of the document.
func (s *Server) planLAN(view db.View, l *lanState) lanPlan {
	info := view.ServerInfo()
	hostname := info.Hostname
	p := lanPlan{addresses: map[string]map[string]model.InterfaceAddresses{}, hostHad: info.Network.Host}
	p.table.Box = []string{router.BoxName(hostname)}
	p.boxHost = boxHost(hostname, l.o.HTTPSPort, gatewayNames(info.Network.Gateways))
	live := map[string]bool{}
	view.EachPackage(func(id string, e *model.PackageDataEntry) bool {
		live[id] = true
		mf := l.manifestOf(id, e)
		if mf == nil {
			return true
		}
		ifaces, err := lan.Interfaces(mf, hostname)
		if err != nil {
			s.log.Warn("lan: package not served", "package", id, "error", err)
			return true
		}
		addrs := map[string]model.InterfaceAddresses{}
		for _, in := range ifaces {
			if in.HTTPPort != 0 {
				p.table.Routes = append(p.table.Routes, router.Route{Name: in.Name, Package: id, Title: mf.Title, Interface: in.ID, Port: in.HTTPPort, Plain: in.Plain})
			}
			p.table.Forwards = append(p.table.Forwards, in.TCP...)
			addrs[in.ID] = lan.Addresses(in, l.o.HTTPSPort, l.o.HTTPPort, hostname)
		}
		p.addresses[id] = addrs
		return true
	})
	for id := range l.manifests {
		if !live[id] {
			delete(l.manifests, id)
		}
	}
	return p
}

// lanReconcile brings the router, the names and the document's addresses
// in line with the document. It writes only what differs, so its own
// write wakes it once more and changes nothing.
func (s *Server) lanReconcile(ctx context.Context, l *lanState) {
	view := s.db.View()
	p := s.planLAN(view, l)
	if err := l.router.SetTable(p.table); err != nil {
		s.log.Warn("lan: some forwards are not listening", "error", err)
	}
	if l.o.Names != nil {
		names := l.router.Names()
		sort.Strings(names)
		l.o.Names(names)
	}
	want := func(id string) map[string]model.InterfaceAddresses {
		if a := p.addresses[id]; len(a) > 0 {
			return a
		}
		return nil
	}
	changed := !sameJSON(p.hostHad, p.boxHost)
	view.EachPackage(func(id string, e *model.PackageDataEntry) bool {
		changed = changed || !reflect.DeepEqual(e.InterfaceAddresses, want(id))
		return !changed
	})
	if !changed {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.db.Mutate(ctx, func(d *model.Document) error {
		if !sameJSON(d.Public.ServerInfo.Network.Host, p.boxHost) {
			d.Public.ServerInfo.Network.Host = p.boxHost.Clone()
		}
		for id, e := range d.Public.PackageData {
			if w := want(id); !reflect.DeepEqual(e.InterfaceAddresses, w) {
				e.InterfaceAddresses = w
				d.Public.PackageData[id] = e
			}
		}
		return nil
	}); err != nil && ctx.Err() == nil {
		s.log.Warn("lan: addresses not recorded", "error", err)
	}
}

// lanResolve is where port of pkg is published on loopback now, or why
// the package cannot take traffic.
func (s *Server) lanResolve(ctx context.Context, l *lanState, pkg string, port uint16) (string, error) {
	var st model.DisplayStatus
	if !s.db.View().ReadPackage(pkg, func(e *model.PackageDataEntry) { st = model.DeriveStatus(e) }) {
		return "", &router.Unavailable{Package: pkg, Status: "not installed"}
	}
	if st.Primary != model.DesiredRunning && st.Primary != model.StatusStarting {
		return "", &router.Unavailable{Package: pkg, Status: st.Primary}
	}
	l.mu.Lock()
	c, ok := l.ports[pkg]
	l.mu.Unlock()
	if !ok || time.Since(c.at) > portsTTL {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := s.engine.InspectContainer(ctx, service.ContainerName(pkg))
		cancel()
		if err != nil || !st.Running {
			return "", &router.Unavailable{Package: pkg, Status: "stopped"}
		}
		c = cachedPorts{at: time.Now(), ports: st.Ports}
		l.mu.Lock()
		l.ports[pkg] = c
		l.mu.Unlock()
	}
	addr, ok := c.ports[port]
	if !ok {
		return "", &router.Unavailable{Package: pkg, Status: fmt.Sprintf("not publishing port %d", port)}
	}
	return addr, nil
}

// addLANProbe: a real TLS handshake (trusting only the box's root) and an
// echo through the router to the box's own surface. A handshake costs both
// ends a few milliseconds of CPU, which every second was most of an idle
// daemon's CPU: it runs every lanProbeInterval, with X25519 alone (the
// post-quantum hybrid a browser offers doubles the cost and adds nothing to
// a check of the daemon's own listener). Degraded: it never kills.
func (s *Server) addLANProbe(addr string) error {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: s.ca.Pool(), CurvePreferences: []tls.CurveID{tls.X25519}},
		DisableKeepAlives: true, // every probe does a handshake
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
	}
	client := &http.Client{Transport: tr}
	return s.wd.AddProbe("lan.proxy", watchdog.Degraded, func(ctx context.Context) error {
		url := "https://" + router.BoxName(s.db.View().ServerInfo().Hostname) + "/rpc/v1"
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"id":1,"method":"echo","params":{"message":"lan"}}`))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"lan"`)) {
			return fmt.Errorf("echo through the LAN router answered %d %q", resp.StatusCode, b)
		}
		return nil
	}, watchdog.WithInterval(lanProbeInterval), watchdog.WithThresholds(3*lanProbeInterval, 6*lanProbeInterval, 12*lanProbeInterval))
}

// lanProbeInterval is how often the LAN probe makes its handshake.
const lanProbeInterval = 5 * time.Second

// Hostname is the box's hostname as the document holds it; its LAN name is
// <hostname>.local.
func (s *Server) Hostname() string {
	return s.db.View().ServerInfo().Hostname
}

// sameJSON compares two values as the document encodes them, so a value
// read back from disk (raw bytes, empty slices) equals the one derived.
func sameJSON(a, b any) bool {
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}
