// Package container is the one place that talks to the Docker Engine. Every
// call carries a deadline: short calls get Options.CallTimeout, transfers
// (build, save, load) get Options.TransferTimeout, unless the caller's context
// ends sooner.
package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

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
}

// Client is a connection to the Docker Engine. It is safe for concurrent use.
type Client struct {
	api      *client.Client
	host     string
	call     time.Duration
	transfer time.Duration

	// negotiated is set once the API version is settled; negotiating holds
	// a token while one caller settles it (see ready).
	negotiated  atomic.Bool
	negotiating chan struct{}
}

// Connect opens a client and pings the engine, negotiating the API version
// (Debian's docker.io 20.10 speaks API 1.41).
func Connect(ctx context.Context, opts Options) (*Client, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	if _, err := c.Ping(ctx); err != nil {
		c.api.Close()
		return nil, err
	}
	return c, nil
}

// New opens a client without contacting the engine, for a daemon that must
// start while the engine is still down; the first call negotiates the API
// version.
func New(opts Options) (*Client, error) {
	c := &Client{host: opts.Host, call: opts.CallTimeout, transfer: opts.TransferTimeout, negotiating: make(chan struct{}, 1)}
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
	api, err := client.NewClientWithOpts(
		client.WithHost(c.host),
		// No client-wide timeout: it would cut streams short. Each call has
		// its own deadline instead.
		client.WithAPIVersionNegotiation(),
	)
	if err != nil {
		return nil, fmt.Errorf("docker engine at %s: %v: %w", c.host, err, errdefs.ErrDocker)
	}
	c.api = api
	return c, nil
}

// Close releases the client's connections.
func (c *Client) Close() error { return c.api.Close() }

// Host returns the engine's address.
func (c *Client) Host() string { return c.host }

// Info is what a ping learns about the engine.
type Info struct {
	APIVersion string // the engine's API version ("1.41" for docker.io 20.10)
	OSType     string
}

// Ping checks the engine answers.
func (c *Client) Ping(ctx context.Context) (Info, error) {
	if err := c.ready(ctx); err != nil {
		return Info{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.call)
	defer cancel()
	p, err := c.api.Ping(ctx)
	if err != nil {
		return Info{}, c.wrap("ping", err)
	}
	return Info{APIVersion: p.APIVersion, OSType: p.OSType}, nil
}

// ready settles the API version before the first call. The Docker client
// would negotiate it lazily inside the first calls, but it reads the
// version unguarded, so concurrent first calls (the event stream, the
// actors, the sweeper at daemon start) race; here one caller pings and
// negotiates while the others wait (with their deadlines). The version is
// kept for the life of the client.
func (c *Client) ready(ctx context.Context) error {
	if c.negotiated.Load() {
		return nil
	}
	select {
	case c.negotiating <- struct{}{}:
		defer func() { <-c.negotiating }()
	case <-ctx.Done():
		return c.wrap("ping", ctx.Err())
	}
	if c.negotiated.Load() {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, c.call)
	defer cancel()
	p, err := c.api.Ping(pctx)
	if err != nil {
		return c.wrap("ping", err)
	}
	c.api.NegotiateAPIVersionPing(p)
	c.negotiated.Store(true)
	return nil
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
	if err := c.ready(ctx); err != nil {
		return EngineConfig{}, err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	info, err := c.api.Info(ctx)
	if err != nil {
		return EngineConfig{}, c.wrap("info", err)
	}
	return EngineConfig{ServerVersion: info.ServerVersion, StorageDriver: info.Driver, LiveRestore: info.LiveRestoreEnabled}, nil
}
