// Package market is the box's side of package registries: the registries a
// person configured (in the state document, each pinned to its key), their
// verified indexes cached on disk, search, install by id and version range,
// and updates offered (packageData.<id>.updateAvailable, one notification
// per new version) and applied. Indexes and archives are checked as package
// registry describes: pinned key, no rollback, no expired index, archive
// equal to the index's commitment and signed by a developer the index
// trusts for that id.
package market

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/internal/atomicfile"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/install"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/registry"
)

// Installer is what the market needs of the installer.
type Installer interface {
	InstallURL(ctx context.Context, url string, opts ...install.InstallOption) error
}

// Options configure New.
type Options struct {
	Store     *db.Store
	DataDir   string
	Installer Installer
	Logger    hclog.Logger
	Notify    func(ctx context.Context, in model.NotificationInput)
	// Platform is what this box runs (arch, OS version).
	Platform registry.Platform
	// Defaults seed the registry list the first time (a person may change
	// it; an emptied list stays empty).
	Defaults []string
	// RefreshEvery is the scheduled refresh period, default 6 h; each wait
	// is jittered by up to a tenth. Negative turns scheduling off.
	RefreshEvery time.Duration
	// AllowLocal lets index fetches dial loopback and private addresses
	// (tests, a registry on the LAN); the installer has its own switch.
	AllowLocal bool
	// AllowRedirectsOffHost lets index and archive downloads follow a
	// redirect to another host.
	AllowRedirectsOffHost bool
	// FetchTimeout bounds an index fetch (default 30 s); StallTimeout ends
	// an archive download that delivers nothing for that long (default 60 s).
	FetchTimeout time.Duration
	StallTimeout time.Duration
	// Now is the clock expiries are checked against; default time.Now.
	Now func() time.Time
}

// Market is the configured registries and their cached indexes. Safe for
// concurrent use.
type Market struct {
	o   Options
	log hclog.Logger

	mu    sync.Mutex // guards cache; never held across I/O
	cache map[string]*cached

	refreshMu sync.Mutex // one refresh at a time (fetches run outside mu)

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type cached struct {
	ver *registry.Verified
	cat *registry.Catalog
}

// expired says whether the cached index is past its expiry. An expired
// index is not trusted for installs, updates or StartOS's registry shapes
// (TUF's freeze attack: a host that keeps serving an old, validly signed
// index hides newer versions, security fixes included); search still lists
// its packages, marked stale, so a person sees why and refreshes.
func (c *cached) expired(now time.Time) bool { return !now.Before(c.ver.Expires) }

func expiredErr(reg string, c *cached) error {
	return fmt.Errorf("the cached index of %s (sequence %d) expired at %s and is not trusted until registry.refresh fetches a current one: %w: %w",
		reg, c.ver.Sequence, c.ver.Expires.UTC().Format(time.RFC3339), registry.ErrExpired, errdefs.ErrRegistry)
}

// New seeds the default registries on a box that never had a list, loads
// the cached indexes (re-verified against their pins) and, unless
// RefreshEvery is negative, starts the scheduled refresh; Close stops it.
func New(ctx context.Context, o Options) (*Market, error) {
	if o.Store == nil || o.Installer == nil || o.DataDir == "" {
		return nil, fmt.Errorf("market: Store, Installer and DataDir are required: %w", errdefs.ErrInvalidRequest)
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 30 * time.Second
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 60 * time.Second
	}
	if o.RefreshEvery == 0 {
		o.RefreshEvery = 6 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Market{o: o, log: o.Logger.Named("market"), cache: map[string]*cached{}, stop: make(chan struct{}), done: make(chan struct{})}
	if err := os.MkdirAll(m.cacheDir(), 0o755); err != nil {
		return nil, fmt.Errorf("market: %v: %w", err, errdefs.ErrFilesystem)
	}
	if _, err := o.Store.Mutate(ctx, func(d *model.Document) error {
		if d.Private.Registries != nil {
			return nil
		}
		regs := map[string]model.RegistryPin{}
		for _, u := range o.Defaults {
			if n, err := normalize(u); err == nil {
				regs[n] = model.RegistryPin{URL: n, Added: time.Now().UTC()}
			}
		}
		d.Private.Registries = regs
		return nil
	}); err != nil {
		return nil, err
	}
	_, doc := o.Store.Read()
	for u, pin := range doc.Private.Registries {
		if pin.Key == "" {
			continue
		}
		if c, err := m.loadCached(pin); err != nil {
			m.log.Warn("cached index refused; refresh fetches it again", "registry", u, "error", err)
		} else {
			m.cache[u] = c
		}
	}
	if o.RefreshEvery > 0 {
		go m.loop()
	} else {
		close(m.done)
	}
	return m, nil
}

// Close stops the scheduled refresh and waits for it.
func (m *Market) Close() error {
	m.once.Do(func() { close(m.stop) })
	<-m.done
	return nil
}

func (m *Market) loop() {
	defer close(m.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		wait := m.o.RefreshEvery + time.Duration(rand.Int64N(int64(m.o.RefreshEvery/10)+1))
		t := time.NewTimer(wait)
		select {
		case <-m.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if err := m.Refresh(ctx, ""); err != nil {
			m.log.Warn("scheduled registry refresh", "error", err)
		}
	}
}

func (m *Market) cacheDir() string { return filepath.Join(m.o.DataDir, "registries") }

func (m *Market) cachePath(u string) string {
	sum := sha256.Sum256([]byte(u))
	return filepath.Join(m.cacheDir(), fmt.Sprintf("%x.json", sum[:12]))
}

func (m *Market) loadCached(pin model.RegistryPin) (*cached, error) {
	key, err := registry.DecodeKey(pin.Key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(m.cachePath(pin.URL))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, registry.MaxIndexSize+1))
	if err != nil {
		return nil, err
	}
	ver, err := registry.Verify(data, registry.VerifyOptions{Key: key, MinSequence: pin.Sequence, SeenDigest: pin.Digest, AllowExpired: true})
	if err != nil {
		return nil, err
	}
	return &cached{ver: ver, cat: registry.NewCatalog(ver.Index)}, nil
}

// normalize checks a registry URL and drops a trailing slash.
func normalize(raw string) (string, error) {
	if _, err := registry.IndexURL(raw); err != nil {
		return "", err
	}
	u, _ := url.Parse(raw)
	u.Fragment, u.RawQuery = "", ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

// httpClient dials only public addresses unless AllowLocal.
func (m *Market) httpClient() *http.Client {
	d := &net.Dialer{Timeout: 15 * time.Second}
	if !m.o.AllowLocal {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !install.PublicAddr(ip) {
				return fmt.Errorf("%s: local or private address refused (startd --allow-local-downloads allows a registry on the LAN)", address)
			}
			return nil
		}
	}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, ResponseHeaderTimeout: m.o.FetchTimeout}}
}

// fetch downloads and verifies a registry's index against pin.
func (m *Market) fetch(ctx context.Context, pin model.RegistryPin) (*registry.Verified, []byte, error) {
	iu, err := registry.IndexURL(pin.URL)
	if err != nil {
		return nil, nil, err
	}
	client := m.httpClient()
	defer client.CloseIdleConnections()
	data, err := registry.Fetch(ctx, iu, registry.FetchOptions{Client: client, Timeout: m.o.FetchTimeout, AllowRedirectsOffHost: m.o.AllowRedirectsOffHost})
	if err != nil {
		return nil, nil, err
	}
	opts := registry.VerifyOptions{MinSequence: pin.Sequence, SeenDigest: pin.Digest, Now: m.o.Now()}
	if pin.Key != "" {
		if opts.Key, err = registry.DecodeKey(pin.Key); err != nil {
			return nil, nil, fmt.Errorf("the pinned key of %s: %v: %w", pin.URL, err, errdefs.ErrRegistry)
		}
	}
	ver, err := registry.Verify(data, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("registry %s: %w", pin.URL, err)
	}
	return ver, data, nil
}

// Add configures a registry, pinned to fingerprint, or (empty) to the key
// its index is signed by now, which it returns.
func (m *Market) Add(ctx context.Context, p model.RegistryAddParams) (model.RegistryAddResult, error) {
	u, err := normalize(p.URL)
	if err != nil {
		return model.RegistryAddResult{}, err
	}
	_, doc := m.o.Store.Read()
	if _, ok := doc.Private.Registries[u]; ok {
		return model.RegistryAddResult{}, fmt.Errorf("registry %s is already configured (registry.remove it first to pin another key): %w", u, errdefs.ErrDuplicate)
	}
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	ver, data, err := m.fetch(ctx, model.RegistryPin{URL: u})
	if err != nil {
		return model.RegistryAddResult{}, err
	}
	if p.Fingerprint != "" && p.Fingerprint != ver.Fingerprint {
		return model.RegistryAddResult{}, fmt.Errorf("registry %s: the index is signed by %s, not the fingerprint given, %s: %w: %w", u, ver.Fingerprint, p.Fingerprint, registry.ErrWrongKey, errdefs.ErrInvalidSignature)
	}
	if err := atomicfile.Write(m.cachePath(u), data, 0o644); err != nil {
		return model.RegistryAddResult{}, fmt.Errorf("caching the index of %s: %v: %w", u, err, errdefs.ErrFilesystem)
	}
	if _, err := m.o.Store.Mutate(ctx, func(d *model.Document) error {
		if _, ok := d.Private.Registries[u]; ok {
			return fmt.Errorf("registry %s is already configured: %w", u, errdefs.ErrDuplicate)
		}
		regs := make(map[string]model.RegistryPin, len(d.Private.Registries)+1)
		for k, v := range d.Private.Registries {
			regs[k] = v
		}
		regs[u] = model.RegistryPin{URL: u, Fingerprint: ver.Fingerprint, Key: registry.EncodeKey(ver.Key),
			Sequence: ver.Sequence, Digest: ver.Digest, Added: time.Now().UTC(), FetchedAt: time.Now().UTC()}
		d.Private.Registries = regs
		return nil
	}); err != nil {
		return model.RegistryAddResult{}, err
	}
	m.setCache(u, ver)
	m.updateOffers(ctx)
	return model.RegistryAddResult{Fingerprint: ver.Fingerprint}, nil
}

func (m *Market) setCache(u string, ver *registry.Verified) {
	c := &cached{ver: ver, cat: registry.NewCatalog(ver.Index)}
	m.mu.Lock()
	if ver == nil {
		delete(m.cache, u)
	} else {
		m.cache[u] = c
	}
	m.mu.Unlock()
}

// Remove forgets a registry, its pin and its cached index.
func (m *Market) Remove(ctx context.Context, p model.RegistryURLParams) error {
	u, err := normalize(p.URL)
	if err != nil {
		return err
	}
	if _, err := m.o.Store.Mutate(ctx, func(d *model.Document) error {
		if _, ok := d.Private.Registries[u]; !ok {
			return fmt.Errorf("no registry %s is configured: %w", u, errdefs.ErrNotFound)
		}
		regs := make(map[string]model.RegistryPin, len(d.Private.Registries))
		for k, v := range d.Private.Registries {
			if k != u {
				regs[k] = v
			}
		}
		d.Private.Registries = regs
		return nil
	}); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.cache, u)
	m.mu.Unlock()
	os.Remove(m.cachePath(u))
	m.updateOffers(ctx)
	return nil
}

// List returns the configured registries, sorted by URL.
func (m *Market) List() []model.RegistryInfo {
	_, doc := m.o.Store.Read()
	out := []model.RegistryInfo{}
	for _, pin := range doc.Private.Registries {
		info := model.RegistryInfo{URL: pin.URL, Fingerprint: pin.Fingerprint, Sequence: pin.Sequence, FetchedAt: pin.FetchedAt, LastError: pin.LastError}
		if c := m.get(pin.URL); c != nil {
			info.Name, info.Expires, info.Packages = c.ver.Name, c.ver.Expires, len(c.ver.Packages)
			info.Expired = c.expired(m.o.Now())
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out
}

func (m *Market) get(u string) *cached {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cache[u]
}

// Refresh fetches one registry's index (u) or every one's (""), then
// recomputes the updates on offer. Each registry's failure is recorded in
// its lastError; the first is returned.
func (m *Market) Refresh(ctx context.Context, u string) error {
	if u != "" {
		var err error
		if u, err = normalize(u); err != nil {
			return err
		}
	}
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	_, doc := m.o.Store.Read()
	var urls []string
	for k := range doc.Private.Registries {
		if u == "" || k == u {
			urls = append(urls, k)
		}
	}
	if u != "" && len(urls) == 0 {
		return fmt.Errorf("no registry %s is configured: %w", u, errdefs.ErrNotFound)
	}
	sort.Strings(urls)
	var first error
	for _, k := range urls {
		if err := m.refreshOne(ctx, doc.Private.Registries[k]); err != nil {
			m.log.Warn("registry refresh failed", "registry", k, "error", err)
			if first == nil {
				first = err
			}
		}
	}
	m.updateOffers(ctx)
	return first
}

func (m *Market) refreshOne(ctx context.Context, pin model.RegistryPin) error {
	ver, data, err := m.fetch(ctx, pin)
	if err != nil {
		m.recordError(ctx, pin.URL, err)
		return err
	}
	if err := atomicfile.Write(m.cachePath(pin.URL), data, 0o644); err != nil {
		return fmt.Errorf("caching the index of %s: %v: %w", pin.URL, err, errdefs.ErrFilesystem)
	}
	if _, err := m.o.Store.Mutate(ctx, func(d *model.Document) error {
		cur, ok := d.Private.Registries[pin.URL]
		if !ok {
			return fmt.Errorf("registry %s was removed meanwhile: %w", pin.URL, errdefs.ErrNotFound)
		}
		if cur.Sequence > ver.Sequence {
			return fmt.Errorf("registry %s: sequence %d is older than %d: %w", pin.URL, ver.Sequence, cur.Sequence, registry.ErrRollback)
		}
		cur.Fingerprint, cur.Key = ver.Fingerprint, registry.EncodeKey(ver.Key)
		cur.Sequence, cur.Digest, cur.FetchedAt, cur.LastError = ver.Sequence, ver.Digest, time.Now().UTC(), ""
		regs := make(map[string]model.RegistryPin, len(d.Private.Registries))
		for k, v := range d.Private.Registries {
			regs[k] = v
		}
		regs[pin.URL] = cur
		d.Private.Registries = regs
		return nil
	}); err != nil {
		return err
	}
	m.setCache(pin.URL, ver)
	return nil
}

func (m *Market) recordError(ctx context.Context, u string, cause error) {
	if _, err := m.o.Store.Mutate(ctx, func(d *model.Document) error {
		cur, ok := d.Private.Registries[u]
		if !ok {
			return nil
		}
		cur.LastError = cause.Error()
		regs := make(map[string]model.RegistryPin, len(d.Private.Registries))
		for k, v := range d.Private.Registries {
			regs[k] = v
		}
		regs[u] = cur
		d.Private.Registries = regs
		return nil
	}); err != nil {
		m.log.Warn("recording a registry error", "registry", u, "error", err)
	}
}

// snapshot returns the cached indexes by URL, in URL order.
func (m *Market) snapshot(only string) ([]string, map[string]*cached) {
	m.mu.Lock()
	defer m.mu.Unlock()
	urls := make([]string, 0, len(m.cache))
	out := make(map[string]*cached, len(m.cache))
	for u, c := range m.cache {
		if only != "" && u != only {
			continue
		}
		urls = append(urls, u)
		out[u] = c
	}
	sort.Strings(urls)
	return urls, out
}

// ErrNoRegistry is returned when a named registry is not configured.
var ErrNoRegistry = errors.New("registry not configured")
