// Package container is the one place that talks to the Docker Engine. Every
// call carries a deadline: short calls get Options.CallTimeout, transfers
// (build, save, load) get Options.TransferTimeout, unless the caller's context
// ends sooner.
package container

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/startos-go/startos/startos/errdefs"
)

// DefaultHost is where the engine listens on a Debian box.
const DefaultHost = "unix:///var/run/docker.sock"

// Options configure a Client. The zero value is usable.
type Options struct {
	// Host is the engine's address; default $DOCKER_HOST, else DefaultHost.
	Host string
	// CallTimeout bounds a short call (ping, inspect, tag, remove); default 30s.
	CallTimeout time.Duration
	// TransferTimeout bounds a build, save or load, including reading its
	// stream; default 1h.
	TransferTimeout time.Duration
	// SubnetPool is where EnsureNetwork takes each network's subnet, as
	// SubnetBits-long prefixes; default DefaultSubnetPool, /26 (1024
	// networks of 62 addresses).
	SubnetPool netip.Prefix
	SubnetBits int
}

// DefaultSubnetPool is private (RFC 1918) and outside the engine's own
// default pools (172.17-31.0.0/16 and 192.168.0.0/16), so packages never
// compete with other containers for those.
var DefaultSubnetPool = netip.MustParsePrefix("172.16.0.0/16")

// Client is a connection to the Docker Engine. It is safe for concurrent use.
//
// The Docker client's own version negotiation writes the API version while
// other calls read it without a lock (a data race). So the version is settled
// here instead: bare (no version needed) pings the engine, and every other call
// goes through a client made with that version fixed, published atomically.
type Client struct {
	bare     *client.Client
	pinned   atomic.Pointer[client.Client]
	host     string
	call     time.Duration
	transfer time.Duration
	pool     netip.Prefix
	poolBits int
}

// Connect opens a client and pings the engine, negotiating the API version
// (Debian's docker.io 20.10 speaks API 1.41).
func Connect(ctx context.Context, opts Options) (*Client, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	if _, err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// New opens a client without contacting the engine, for a daemon that must
// start while the engine is still down; the first call negotiates the API
// version.
func New(opts Options) (*Client, error) {
	c := &Client{host: opts.Host, call: opts.CallTimeout, transfer: opts.TransferTimeout, pool: opts.SubnetPool, poolBits: opts.SubnetBits}
	if !c.pool.IsValid() {
		c.pool = DefaultSubnetPool
	}
	if c.poolBits <= 0 {
		c.poolBits = 26
	}
	if !c.pool.Addr().Is4() || c.poolBits < c.pool.Bits() || c.poolBits > 30 {
		return nil, fmt.Errorf("docker engine: subnet pool %s cannot hold /%d networks: %w", c.pool, c.poolBits, errdefs.ErrInvalidRequest)
	}
	if c.host == "" {
		c.host = os.Getenv("DOCKER_HOST")
	}
	if c.host == "" {
		c.host = DefaultHost
	}
	if c.call <= 0 {
		c.call = 30 * time.Second
	}
	if c.transfer <= 0 {
		c.transfer = time.Hour
	}
	bare, err := c.newAPI("")
	if err != nil {
		return nil, err
	}
	c.bare = bare
	return c, nil
}

// newAPI makes an engine client speaking API version (empty: the library's
// newest, which only Ping may use before the version is settled).
func (c *Client) newAPI(version string) (*client.Client, error) {
	// No client-wide timeout: it would cut streams short. Each call has its
	// own deadline instead.
	opts := []client.Opt{client.WithHost(c.host)}
	if version != "" {
		// Nothing here is traced: the filter makes the client's
		// OpenTelemetry transport pass requests straight through instead of
		// building a span for each (a tenth of an idle daemon's CPU with 100
		// packages' health checks). Only a client pinned to a version gets
		// it: the bare client pings, and its Ping rewrites the request after
		// a failed HEAD while the transport may still read it, a race the
		// transport's clone of each request hides. A pinned client never
		// pings (its version is fixed, so it never negotiates).
		opts = append(opts, client.WithVersion(version),
			client.WithTraceOptions(otelhttp.WithFilter(func(*http.Request) bool { return false })))
	}
	cl, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker engine at %s: %v: %w", c.host, err, errdefs.ErrDocker)
	}
	return cl, nil
}

// engine returns the client for an API call, settling the API version with
// a ping on first use. While the engine is down it returns the bare client,
// whose call then fails as the engine's absence deserves.
func (c *Client) engine(ctx context.Context) *client.Client {
	if cl := c.pinned.Load(); cl != nil {
		return cl
	}
	ctx, cancel := context.WithTimeout(ctx, c.call)
	defer cancel()
	p, err := c.bare.Ping(ctx)
	if err != nil {
		return c.bare
	}
	if cl := c.settle(p); cl != nil {
		return cl
	}
	return c.bare
}

// settle publishes a client fixed at the version the engine answered with,
// unless one with that version is already published, and returns the
// published one.
func (c *Client) settle(p types.Ping) *client.Client {
	want := p.APIVersion
	if want == "" {
		want = "1.24" // engines older than version negotiation
	}
	if versions.LessThan(api.DefaultVersion, want) {
		want = api.DefaultVersion
	}
	for {
		old := c.pinned.Load()
		if old != nil && old.ClientVersion() == want {
			return old
		}
		next, err := c.newAPI(want)
		if err != nil {
			return old
		}
		if c.pinned.CompareAndSwap(old, next) {
			// A replaced client may still carry calls; it only holds idle
			// connections, which the transport closes when unused.
			return next
		}
		next.Close()
	}
}

// Close releases the client's connections.
func (c *Client) Close() error {
	if cl := c.pinned.Load(); cl != nil {
		cl.Close()
	}
	return c.bare.Close()
}

// Host returns the engine's address.
func (c *Client) Host() string { return c.host }

// Info is what a ping learns about the engine.
type Info struct {
	APIVersion string // the engine's API version ("1.41" for docker.io 20.10)
	OSType     string
}

// Ping checks the engine answers.
func (c *Client) Ping(ctx context.Context) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, c.call)
	defer cancel()
	p, err := c.bare.Ping(ctx)
	if err != nil {
		return Info{}, c.wrap("ping", err)
	}
	// Settle the API version now rather than on the next call, and again
	// after an engine upgrade.
	c.settle(p)
	return Info{APIVersion: p.APIVersion, OSType: p.OSType}, nil
}

// callCtx returns ctx bounded by the short-call deadline.
func (c *Client) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.call)
}

func (c *Client) transferCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.transfer)
}

// wrap turns an engine error into a library error: unreachable engines are
// ErrUnavailable, missing objects ErrNotFound, deadlines ErrTimeout, the rest
// ErrDocker.
func (c *Client) wrap(op string, err error) error {
	switch {
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("docker %s: %v: %w", op, err, errdefs.ErrNotFound)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("docker %s: no answer from the engine at %s in time: %w", op, c.host, errdefs.ErrTimeout)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("docker %s: %w", op, errdefs.ErrCancelled)
	case client.IsErrConnectionFailed(err):
		return fmt.Errorf("docker %s: engine unreachable at %s: %v: %w", op, c.host, err, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("docker %s: %v: %w", op, err, errdefs.ErrDocker)
}

// EngineConfig is the part of the engine's configuration startd cares
// about.
type EngineConfig struct {
	ServerVersion string
	StorageDriver string
	// LiveRestore keeps containers running while the engine itself stops,
	// restarts or upgrades (docs/startd.md says why startd wants it).
	LiveRestore bool
}

// Config asks the engine for its configuration.
func (c *Client) Config(ctx context.Context) (EngineConfig, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	info, err := c.engine(ctx).Info(ctx)
	if err != nil {
		return EngineConfig{}, c.wrap("info", err)
	}
	return EngineConfig{ServerVersion: info.ServerVersion, StorageDriver: info.Driver, LiveRestore: info.LiveRestoreEnabled}, nil
}
