// Package live keeps the console's view of a box current: a replica of the
// state document, the metrics and log streams, and the connection itself,
// which it re-establishes with backoff when the daemon goes away. It is a
// client of the RPC surface only, and knows nothing of the terminal: the UI
// takes what changed with Take whenever Wake fires.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"time"

	"github.com/startos-go/startos/internal/retry"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

// Options configure Open.
type Options struct {
	// Target is "unix:///path/rpc.sock" or "http(s)://host:port". An HTTP
	// host is reached over WebSocket, since the streams need a connection.
	Target string
	// HTTPClient carries the cookie jar (sessions) for an HTTP target, and
	// uploads to it. Nil means a client with an in-memory jar.
	HTTPClient *http.Client
	// LocalCookie is the daemon's local auth cookie, sent over HTTP on this
	// machine (an HTTP target on loopback).
	LocalCookie string
	// LogLimit is how many recent entries a log follow starts with
	// (default 200).
	LogLimit int
	// Backoff is the wait before reconnect attempt n (counting from 0).
	// Default: 250 ms doubling up to 10 s.
	Backoff func(attempt int) time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// CallTimeout bounds each call the box makes on its own (default 10 s).
	CallTimeout time.Duration
}

// ErrNeedLogin is why a remote connection waits: the session is missing or
// expired. Login continues it.
var ErrNeedLogin = errors.New("login required: the session is missing or expired")

// ErrNotConnected answers a call made while the daemon is unreachable.
var ErrNotConnected = errors.New("not connected to the daemon")

var errConnectionLost = errors.New("connection to the daemon lost")

// Box is a live connection to one daemon. Open starts it; Close stops it
// and waits for every goroutine it started.
type Box struct {
	opts   Options
	remote bool
	stream string      // dial target of the stream connection: unix:// or ws(s)://
	httpc  *rpc.Client // remote only: plain HTTP, for the session check and login
	hc     *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned
	wake   chan struct{} // one slot: something is pending
	kick   chan struct{} // one slot: connect now (after a login)
	logSig chan struct{} // one slot: the wanted log source changed

	mu      sync.Mutex
	pending Update      // guarded by mu
	client  *rpc.Client // guarded by mu; nil while not connected
	source  string      // guarded by mu; the log source wanted ("" = daemon)

	decoder Decoder // used only by the session's state publisher, one at a time
}

// Open validates opts and starts connecting in the background.
func Open(opts Options) (*Box, error) {
	if opts.LogLimit <= 0 {
		opts.LogLimit = 200
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	hc := opts.HTTPClient
	if hc == nil {
		jar, _ := cookiejar.New(nil)
		hc = &http.Client{Jar: jar}
	}
	b := &Box{
		opts: opts, hc: hc,
		done: make(chan struct{}), wake: make(chan struct{}, 1),
		kick: make(chan struct{}, 1), logSig: make(chan struct{}, 1),
	}
	t := opts.Target
	switch {
	case strings.HasPrefix(t, "unix://"):
		b.stream = t
	case strings.HasPrefix(t, "http://"), strings.HasPrefix(t, "https://"):
		t = strings.TrimSuffix(t, "/")
		b.remote = true
		b.stream = "ws" + strings.TrimPrefix(t, "http")
		c, err := rpc.Dial(context.Background(), t, rpc.ClientOptions{HTTPClient: hc, LocalCookie: opts.LocalCookie})
		if err != nil {
			return nil, err
		}
		b.httpc = c
	default:
		return nil, fmt.Errorf("target %q: want unix:///path/to/rpc.sock or http(s)://host:port", t)
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	go b.run()
	return b, nil
}

// DefaultBackoff waits 250 ms before the first retry, doubling up to 10 s.
func DefaultBackoff(attempt int) time.Duration {
	return retry.Backoff{First: 250 * time.Millisecond, Max: 10 * time.Second}.Delay(attempt)
}

// Close stops following and waits for the goroutines.
func (b *Box) Close() {
	b.cancel()
	<-b.done
	if b.httpc != nil {
		b.httpc.Close()
	}
}

// Wake receives a value when something is pending for Take; coalesced.
func (b *Box) Wake() <-chan struct{} { return b.wake }

// Done is closed once Close has been called.
func (b *Box) Done() <-chan struct{} { return b.ctx.Done() }

// Take returns everything that changed since the last Take.
func (b *Box) Take() Update {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.pending
	b.pending = Update{}
	return u
}

// Remote reports whether the box is reached over HTTP (and so may ask for a
// login) rather than the local socket.
func (b *Box) Remote() bool { return b.remote }

func (b *Box) publish(u Update) {
	b.mu.Lock()
	b.pending.merge(u)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Box) setConn(c ConnState) {
	c.Target, c.Remote = b.opts.Target, b.remote
	b.publish(Update{Conn: &c})
}

// Call invokes a method on the current connection.
func (b *Box) Call(ctx context.Context, method string, params, result any) error {
	b.mu.Lock()
	c := b.client
	b.mu.Unlock()
	if c == nil {
		return fmt.Errorf("%s: %w", method, ErrNotConnected)
	}
	ctx, stop := b.bound(ctx)
	defer stop()
	return c.Call(ctx, method, params, result)
}

// bound ends ctx when the box closes too.
func (b *Box) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// Login opens a session with the password (auth.login over HTTP; the cookie
// lands in the jar) and connects at once.
func (b *Box) Login(ctx context.Context, password string) error {
	if !b.remote {
		return errors.New("the local socket needs no login")
	}
	ctx, stop := b.bound(ctx)
	defer stop()
	var res model.LoginResult
	if err := b.httpc.Call(ctx, "auth.login", model.LoginParams{Password: password}, &res); err != nil {
		return err
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return nil
}

// SetupStatus asks a remote box whether it has an owner yet (setup.status,
// which needs no session); the local socket is its administrator already.
func (b *Box) SetupStatus(ctx context.Context) (string, error) {
	if !b.remote {
		return model.SetupComplete, nil
	}
	ctx, stop := b.bound(ctx)
	defer stop()
	var st model.SetupStatus
	err := b.httpc.Call(ctx, "setup.status", nil, &st)
	return st.Status, err
}

// Setup gives a box with no owner its password (setup.execute), then logs in
// with it.
func (b *Box) Setup(ctx context.Context, password string) error {
	if !b.remote {
		return errors.New("set up a box from its socket with: start-cli setup")
	}
	bctx, stop := b.bound(ctx)
	err := b.httpc.Call(bctx, "setup.execute", model.SetupParams{Password: password}, nil)
	stop()
	if err != nil {
		return err
	}
	return b.Login(ctx, password)
}

// FollowLogs switches the log stream: "" for the daemon's own log, else a
// package id (package.logs.follow). It takes effect at once when connected,
// else at the next connection.
func (b *Box) FollowLogs(source string) {
	b.mu.Lock()
	b.source = source
	b.mu.Unlock()
	select {
	case b.logSig <- struct{}{}:
	default:
	}
}

func (b *Box) logSource() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.source
}

// run connects, serves a session until it ends, and tries again with
// backoff; a remote box without a session waits for Login.
func (b *Box) run() {
	defer close(b.done)
	attempt := 0
	for {
		b.setConn(ConnState{Phase: Connecting})
		connected, err := b.session(b.ctx)
		if b.ctx.Err() != nil {
			return
		}
		if connected {
			attempt = 0
		}
		if errors.Is(err, ErrNeedLogin) {
			b.setConn(ConnState{Phase: NeedLogin, Err: err})
			select {
			case <-b.kick:
				continue
			case <-b.ctx.Done():
				return
			}
		}
		wait := b.opts.Backoff(attempt)
		attempt++
		b.setConn(ConnState{Phase: Disconnected, Err: err, RetryAt: b.opts.Now().Add(wait)})
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-b.kick:
			t.Stop()
		case <-b.ctx.Done():
			t.Stop()
			return
		}
	}
}

// unauthorized reports whether err is the daemon's code 34.
func unauthorized(err error) bool {
	var e *rpc.Error
	return errors.As(err, &e) && e.Code == rpc.CodeUnauthorized
}

// refused turns a 34 into the reason the user can act on.
func (b *Box) refused(err error) error {
	if !unauthorized(err) {
		return err
	}
	if b.remote {
		return fmt.Errorf("%w (%v)", ErrNeedLogin, err)
	}
	return fmt.Errorf("the socket refused this user (%v): run as root or the daemon's user, or use --host", err)
}

func (b *Box) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.opts.CallTimeout)
}

// session connects once and follows until the connection ends; it reports
// whether it got as far as connected, and why it ended.
func (b *Box) session(ctx context.Context) (bool, error) {
	var clock *ServerClock
	if b.remote {
		// Check the session over plain HTTP first: a refused WebSocket
		// upgrade says only "401", an RPC answer says why.
		cctx, cancel := b.callCtx(ctx)
		t, err := rpc.Call[model.ServerTime](cctx, b.httpc, "server.time", nil)
		cancel()
		if err != nil {
			return false, b.refused(err)
		}
		clock = &ServerClock{Time: t, At: b.opts.Now()}
	}
	dctx, cancel := b.callCtx(ctx)
	c, err := rpc.Dial(dctx, b.stream, rpc.ClientOptions{HTTPClient: b.hc, LocalCookie: b.opts.LocalCookie})
	cancel()
	if err != nil {
		return false, err
	}
	defer c.Close()

	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rctx, cancel := b.callCtx(sctx)
	rep, err := rpc.NewReplica(rctx, c, "")
	cancel()
	if err != nil {
		return false, b.refused(err)
	}
	defer rep.Close()
	if clock == nil {
		cctx, cancel := b.callCtx(sctx)
		t, err := rpc.Call[model.ServerTime](cctx, c, "server.time", nil)
		cancel()
		if err != nil {
			return false, b.refused(err)
		}
		clock = &ServerClock{Time: t, At: b.opts.Now()}
	}
	if err := b.publishState(rep); err != nil {
		return false, err
	}

	b.mu.Lock()
	b.client = c
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.client = nil
		b.mu.Unlock()
	}()
	b.publish(Update{Clock: clock, Conn: &ConnState{Phase: Connected, Target: b.opts.Target, Remote: b.remote}})

	var wg sync.WaitGroup
	wg.Go(func() { b.watchState(sctx, rep, stop) })
	wg.Go(func() { b.followMetrics(sctx, c) })
	wg.Go(func() { b.followLogs(sctx, c) })
	wg.Go(func() {
		select {
		case <-c.Done():
			stop(errConnectionLost)
		case <-sctx.Done():
		}
	})
	<-sctx.Done()
	wg.Wait()
	return true, context.Cause(sctx)
}

// watchState publishes each new revision of the replica.
func (b *Box) watchState(ctx context.Context, rep *rpc.Replica, stop context.CancelCauseFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-rep.Changed():
			if err := rep.Err(); err != nil {
				stop(fmt.Errorf("state stream ended: %w", err))
				return
			}
			if err := b.publishState(rep); err != nil {
				stop(err)
				return
			}
		}
	}
}

func (b *Box) publishState(rep *rpc.Replica) error {
	raw, rev := rep.Value()
	st, err := b.decoder.Decode(rev, raw)
	if err != nil {
		return err
	}
	b.publish(Update{State: st})
	return nil
}

// Decoder decodes revisions of the public document. It remembers each
// package's manifest, so a revision that changes only a status (most of
// them) does not decode fifty manifests again. Not safe for concurrent use.
type Decoder struct {
	manifests map[string]manifestCache
}

// Decode decodes one revision.
func (d *Decoder) Decode(rev uint64, raw []byte) (*State, error) {
	st, cache, err := decodeState(rev, raw, d.manifests)
	if err != nil {
		return nil, err
	}
	d.manifests = cache
	return st, nil
}

// DecodeState decodes one revision of the public document on its own.
func DecodeState(rev uint64, raw []byte) (*State, error) {
	st, _, err := decodeState(rev, raw, nil)
	return st, err
}

func decodeState(rev uint64, raw []byte, prev map[string]manifestCache) (*State, map[string]manifestCache, error) {
	st := &State{Rev: rev}
	if err := json.Unmarshal(raw, &st.Doc); err != nil {
		return nil, nil, fmt.Errorf("state revision %d does not decode: %w", rev, err)
	}
	var cache map[string]manifestCache
	st.Manifests, cache = decodeManifests(&st.Doc, prev)
	return st, cache, nil
}

// followMetrics publishes each metrics sample, and the watchdog's report
// alongside when the daemon has server.watchdog (it has no stream of its
// own; a sample every few seconds is its pace).
func (b *Box) followMetrics(ctx context.Context, c *rpc.Client) {
	watchdog := true
	for attempt := 0; ; attempt++ {
		sub, err := c.Subscribe(ctx, "server.metrics.follow", nil)
		if err == nil {
			var m model.Metrics
			if json.Unmarshal(sub.Value, &m) == nil {
				b.sample(ctx, c, m, &watchdog)
			}
			for {
				var raw json.RawMessage
				raw, err = sub.Next(ctx)
				if err != nil {
					break
				}
				if json.Unmarshal(raw, &m) == nil {
					b.sample(ctx, c, m, &watchdog)
				}
			}
			sub.Close()
			if errors.Is(err, feed.ErrFellBehind) {
				continue
			}
		}
		if ctx.Err() != nil || errors.Is(err, feed.ErrSourceClosed) {
			return
		}
		// No sampler yet, or it restarted: try again shortly.
		t := time.NewTimer(b.opts.Backoff(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

func (b *Box) sample(ctx context.Context, c *rpc.Client, m model.Metrics, watchdog *bool) {
	u := Update{}
	if !m.SampledAt.IsZero() {
		u.Metrics = []model.Metrics{m}
	}
	if *watchdog {
		cctx, cancel := b.callCtx(ctx)
		var rep model.WatchdogReport // server.watchdog's answer: {watchdog, sinks}
		err := c.Call(cctx, "server.watchdog", nil, &rep)
		cancel()
		var e *rpc.Error
		switch {
		case errors.As(err, &e) && e.Code == rpc.CodeMethodNotFound:
			*watchdog = false
			u.Watchdog = &WatchdogReport{Supported: false}
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			u.Watchdog = &WatchdogReport{Supported: true, Err: err}
		default:
			u.Watchdog = &WatchdogReport{Supported: true, Status: rep.Watchdog}
		}
	}
	if !u.Empty() {
		b.publish(u)
	}
}

// followLogs follows the wanted log source, switching when FollowLogs asks.
func (b *Box) followLogs(ctx context.Context, c *rpc.Client) {
	for {
		src := b.logSource()
		fctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { b.followLog(fctx, c, src) })
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			return
		case <-b.logSig:
			cancel()
			wg.Wait()
		}
	}
}

// packageLogsParams are the params of package.logs.follow.
type packageLogsParams struct {
	ID    string `json:"id"`
	Limit int    `json:"limit,omitempty"`
}

// LogMethod is the follow method and params for a log source.
func LogMethod(source string, limit int) (string, any) {
	if source == "" {
		return "server.logs.follow", model.LogsParams{Limit: limit}
	}
	return "package.logs.follow", packageLogsParams{ID: source, Limit: limit}
}

// logLine reads the daemon's log entries (with a level) and a package's
// (with the stream it was written to: stdout or stderr).
type logLine struct {
	model.LogEntry
	Stream string `json:"stream"`
}

// entry is the line as the console shows it: a package's stderr takes the
// level "stderr".
func (l logLine) entry() model.LogEntry {
	e := l.LogEntry
	if e.Level == "" && l.Stream == "stderr" {
		e.Level = "stderr"
	}
	return e
}

func (b *Box) followLog(ctx context.Context, c *rpc.Client, src string) {
	method, params := LogMethod(src, b.opts.LogLimit)
	for {
		sub, err := c.Subscribe(ctx, method, params)
		if err != nil {
			if ctx.Err() == nil {
				b.publish(Update{Logs: &LogBatch{Source: src, Reset: true, Err: err}})
			}
			return
		}
		var page struct {
			Entries []logLine `json:"entries"`
		}
		_ = json.Unmarshal(sub.Value, &page)
		entries := make([]model.LogEntry, len(page.Entries))
		for i, e := range page.Entries {
			entries[i] = e.entry()
		}
		b.publish(Update{Logs: &LogBatch{Source: src, Reset: true, Entries: entries}})
		for {
			raw, err := sub.Next(ctx)
			if err != nil {
				sub.Close()
				if errors.Is(err, feed.ErrFellBehind) && ctx.Err() == nil {
					break // subscribe again from a fresh page
				}
				if ctx.Err() == nil && !errors.Is(err, feed.ErrSourceClosed) {
					b.publish(Update{Logs: &LogBatch{Source: src, Err: err}})
				}
				return
			}
			var e logLine
			if json.Unmarshal(raw, &e) == nil {
				b.publish(Update{Logs: &LogBatch{Source: src, Entries: []model.LogEntry{e.entry()}}})
			}
		}
	}
}
