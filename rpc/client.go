package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/hashicorp/go-hclog"
	"github.com/startos-go/startos/rpc/internal/jsonstream"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

// DefaultAddr is where startd listens unless told otherwise.
const DefaultAddr = "127.0.0.1:5959"

// DialTimeout bounds connecting to the daemon.
const DialTimeout = 5 * time.Second

// Response is a successful call's result and metadata.
type Response struct {
	Result   json.RawMessage
	Revision uint64 // state revision after a mutating call; 0 otherwise
}

// Client calls the daemon. It is safe for concurrent use. Over HTTP it makes
// one request per call; over WebSocket and the unix socket it keeps one
// connection, which also carries subscriptions.
type Client struct {
	http        *http.Client
	httpURL     string // http(s)://host/rpc/v1, for the HTTP transport
	localCookie string
	postHeader  http.Header  // the headers of every RPC POST; read-only
	own         *httpConns   // nil: RPC POSTs go through the client's transport
	rest        *http.Client // for /rest/rpc/<id> transfers
	restBase    string       // http(s)://host or http://unix for the socket

	conn   *jsonrpc2.Conn // stream transports
	st     *jsonstream.ObjectStream
	cl     *clientHandler
	nextID atomic.Uint64
	ended  chan struct{} // closed when the stream connection's watcher is done
	deaf   atomic.Bool   // a keep-alive ping went unanswered
	pinger sync.WaitGroup
}

// ClientOptions tune Dial.
type ClientOptions struct {
	// HTTPClient is used by the HTTP and WebSocket transports, e.g. for its
	// cookie jar. Nil means a client with a fresh cookie jar.
	HTTPClient *http.Client
	// LocalCookie, when set, is sent as the local auth cookie (the contents
	// of <run-dir>/rpc.authcookie): the local administrator over HTTP.
	LocalCookie string
	// KeepAlive, when set on a stream transport (unix socket, WebSocket),
	// pings the daemon (echo) at this interval and ends the connection, and
	// every subscription on it with ErrNotAnswering, when a ping is not
	// answered within the interval: a deaf daemon cannot hang a stream.
	KeepAlive time.Duration
}

// ErrNotAnswering ends a stream connection whose daemon stopped answering
// keep-alive pings.
var ErrNotAnswering = errors.New("the daemon stopped answering")

// Dial connects to target: "unix:///run/startos/rpc.sock" (or a bare path),
// "http://host:port", "https://host:port", "ws://host:port" or
// "wss://host:port".
func Dial(ctx context.Context, target string, opts ClientOptions) (*Client, error) {
	hc := opts.HTTPClient
	if hc == nil {
		jar, _ := cookiejar.New(nil)
		hc = &http.Client{Jar: jar}
	}
	switch {
	case strings.HasPrefix(target, "unix://"), strings.HasPrefix(target, "/"), strings.HasPrefix(target, "./"):
		path := strings.TrimPrefix(target, "unix://")
		d := net.Dialer{Timeout: DialTimeout}
		c, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", path, err)
		}
		cl := newStreamClient(jsonstream.NewLineFramer(c, nil, MaxReplyBytes), func() {})
		// Transfers go over HTTP on the same socket.
		cl.rest = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: DialTimeout}
			return d.DialContext(ctx, "unix", path)
		}}}
		cl.restBase = "http://unix"
		cl.keepAlive(opts.KeepAlive)
		return cl, nil
	case strings.HasPrefix(target, "ws://"), strings.HasPrefix(target, "wss://"):
		u := strings.TrimSuffix(target, "/")
		if !strings.HasSuffix(u, "/ws/rpc") {
			u += "/ws/rpc"
		}
		dctx, cancel := context.WithTimeout(ctx, DialTimeout)
		defer cancel()
		var header http.Header
		if opts.LocalCookie != "" {
			header = http.Header{"Cookie": {(&http.Cookie{Name: LocalCookie, Value: opts.LocalCookie}).String()}}
		}
		c, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: header})
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", u, err)
		}
		c.SetReadLimit(MaxReplyBytes)
		lifetime, stop := context.WithCancel(context.Background())
		cl := newStreamClient(&jsonstream.WSFramer{C: c, Ctx: lifetime}, stop)
		cl.rest, cl.localCookie = hc, opts.LocalCookie
		cl.restBase = strings.Replace(strings.TrimSuffix(u, "/ws/rpc"), "ws", "http", 1)
		cl.keepAlive(opts.KeepAlive)
		return cl, nil
	case strings.HasPrefix(target, "http://"), strings.HasPrefix(target, "https://"):
		u, err := url.Parse(target)
		if err != nil {
			return nil, fmt.Errorf("bad host %q: %w", target, err)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/rpc/v1"
		}
		base := *u
		base.Path = ""
		c := &Client{http: hc, httpURL: u.String(), localCookie: opts.LocalCookie, rest: hc, restBase: base.String(),
			postHeader: http.Header{"Content-Type": {"application/json"}}, own: ownHTTPConns(hc, u)}
		if opts.LocalCookie != "" {
			c.postHeader.Set("Cookie", (&http.Cookie{Name: LocalCookie, Value: opts.LocalCookie}).String())
		}
		return c, nil
	}
	return nil, fmt.Errorf("bad target %q: want unix:///path, http(s)://host:port or ws(s)://host:port", target)
}

// newStreamClient starts a connection and the goroutine that, when it ends
// for any reason, ends every subscription on it and calls onEnd.
func newStreamClient(fr jsonstream.Framer, onEnd func()) *Client {
	st := jsonstream.NewObjectStream(fr)
	cl := &clientHandler{subs: map[string]*feed.Feed[json.RawMessage]{}, early: map[string][]json.RawMessage{}}
	st.Results = &cl.results
	conn := jsonrpc2.NewConn(context.Background(), st, cl, jsonrpc2.OnRecv(cl.onRecv), jsonrpc2.SetLogger(jsonstream.DebugLogger{Log: hclog.NewNullLogger()}))
	c := &Client{conn: conn, st: st, cl: cl, ended: make(chan struct{})}
	go func() {
		defer close(c.ended)
		<-conn.DisconnectNotify()
		cause := feed.ErrSourceClosed
		if c.deaf.Load() {
			cause = ErrNotAnswering
		}
		cl.endAll(cause)
		onEnd()
	}()
	return c
}

// keepAlive starts the pinger of a stream client; it ends with the
// connection, which it closes when a ping goes unanswered.
func (c *Client) keepAlive(every time.Duration) {
	if every <= 0 {
		return
	}
	c.pinger.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.conn.DisconnectNotify():
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), every)
			// The id comes from the client's counter, as Invoke's do: jsonrpc2's
			// own sequence would collide with them in its pending table.
			err := c.conn.Call(ctx, "echo", map[string]string{"message": "keep-alive"}, nil, jsonrpc2.PickID(jsonrpc2.ID{Num: c.nextID.Add(1)}))
			cancel()
			if err != nil && ctx.Err() != nil {
				c.deaf.Store(true)
				c.conn.Close()
				return
			}
		}
	})
}

// Close ends the connection and every subscription on it.
func (c *Client) Close() error {
	if c.rest != nil {
		c.rest.CloseIdleConnections()
	}
	if c.conn == nil {
		c.http.CloseIdleConnections()
		if c.own != nil {
			c.own.closeIdle()
		}
		return nil
	}
	err := c.conn.Close()
	c.st.Wait()
	<-c.ended
	c.pinger.Wait()
	return err
}

// Done is closed when a stream connection ends (never, over HTTP).
func (c *Client) Done() <-chan struct{} {
	if c.conn == nil {
		return nil
	}
	return c.conn.DisconnectNotify()
}

// Call invokes method with params and decodes the result into result (which
// may be nil).
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	resp, err := c.Invoke(ctx, method, params)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Result, result); err != nil {
		return fmt.Errorf("%s: decode result: %w", method, err)
	}
	return nil
}

// Invoke is Call returning the raw result and the state revision.
func (c *Client) Invoke(ctx context.Context, method string, params any) (*Response, error) {
	if params == nil {
		params = struct{}{}
	}
	if c.conn == nil {
		return c.invokeHTTP(ctx, method, params)
	}
	// jsonrpc2's Call does not hand back a response's meta, so we pick the id
	// ourselves and collect the meta in OnRecv, which runs before Call returns.
	id := jsonrpc2.ID{Num: c.nextID.Add(1)}
	var raw json.RawMessage
	err := c.conn.Call(ctx, method, params, &raw, jsonrpc2.PickID(id))
	meta, hasMeta := c.cl.metas.LoadAndDelete(id)
	lifted, wasLifted := c.cl.results.LoadAndDelete(id)
	if err != nil {
		return nil, wireError(err)
	}
	if wasLifted {
		raw = lifted.(json.RawMessage)
	}
	resp := &Response{Result: raw}
	if hasMeta {
		resp.Revision = meta.(ResponseMeta).Revision
	}
	return resp, nil
}

func wireError(err error) error {
	var je *jsonrpc2.Error
	if errors.As(err, &je) {
		e := &Error{Code: int(je.Code), Message: je.Message}
		if je.Data != nil {
			var d ErrorData
			if json.Unmarshal(*je.Data, &d) == nil {
				e.Data = &d
			} else {
				var s string
				if json.Unmarshal(*je.Data, &s) == nil {
					e.Data = &ErrorData{Details: s}
				}
			}
		}
		return e
	}
	if errors.Is(err, jsonrpc2.ErrClosed) || errors.Is(err, jsonstream.ErrClosed) {
		return fmt.Errorf("connection to the daemon closed: %w", err)
	}
	return err
}

func (c *Client) invokeHTTP(ctx context.Context, method string, params any) (*Response, error) {
	body, err := appendRequest(nil, 1, method, params)
	if err != nil {
		return nil, fmt.Errorf("%s: encode params: %w", method, err)
	}
	if t := c.http.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel() // after the body is read, as Do's timeout covers it
	}
	hresp, err := c.post(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(hresp.Body, 512))
		return nil, fmt.Errorf("%s: HTTP %s: %s", method, hresp.Status, strings.TrimSpace(string(msg)))
	}
	b, err := readBody(hresp, MaxReplyBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: read response: %w", method, err)
	}
	var env WireResponse
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", method, err)
	}
	if env.Error != nil {
		return nil, env.Error
	}
	resp := &Response{Result: env.Result}
	if s := hresp.Header.Get(PatchSequenceHeader); s != "" {
		resp.Revision, _ = strconv.ParseUint(s, 10, 64)
	}
	return resp, nil
}

// post sends one RPC body. It is c.http.Do without what an RPC POST never
// needs, which Do pays for on every request: following redirects (an
// answer is 200 or a failure), and so a copy of the request's headers kept
// for them. The client's jar and transport apply as in Do; invokeHTTP
// applies its timeout.
func (c *Client) post(ctx context.Context, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.httpURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	var cookies []*http.Cookie
	if c.http.Jar != nil {
		cookies = c.http.Jar.Cookies(req.URL)
	}
	if len(cookies) == 0 {
		req.Header = c.postHeader // shared: a transport does not change a request
	} else {
		req.Header = c.postHeader.Clone()
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
	}
	var resp *http.Response
	if c.own != nil {
		resp, err = c.own.roundTrip(req)
	} else {
		rt := c.http.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		resp, err = rt.RoundTrip(req)
	}
	if err != nil {
		return nil, err
	}
	if c.http.Jar != nil {
		if rc := resp.Cookies(); len(rc) > 0 {
			c.http.Jar.SetCookies(req.URL, rc)
		}
	}
	return resp, nil
}

// readBody reads a response body of at most limit bytes, in one allocation
// when its length is known.
func readBody(r *http.Response, limit int64) ([]byte, error) {
	if r.ContentLength < 0 || r.ContentLength > limit {
		return io.ReadAll(io.LimitReader(r.Body, limit))
	}
	b := make([]byte, r.ContentLength)
	_, err := io.ReadFull(r.Body, b)
	return b, err
}

// clientHandler receives notifications on a stream client and routes them to
// subscriptions. It runs in jsonrpc2's read loop, so it never blocks: each
// subscription has a bounded feed.
type clientHandler struct {
	metas   sync.Map // jsonrpc2.ID -> ResponseMeta
	results sync.Map // jsonrpc2.ID -> json.RawMessage, lifted out of the frame by the stream

	mu    sync.Mutex
	subs  map[string]*feed.Feed[json.RawMessage] // guarded by mu
	early map[string][]json.RawMessage           // guarded by mu; items that beat their subscription's registration
}

// maxEarly bounds items held for a subscription not yet registered.
const maxEarly = 1024

func (h *clientHandler) onRecv(_ *jsonrpc2.Request, resp *jsonrpc2.Response) {
	if resp != nil && resp.Meta != nil {
		var m ResponseMeta
		if json.Unmarshal(*resp.Meta, &m) == nil && m.Revision > 0 {
			h.metas.Store(resp.ID, m)
		}
	}
}

func (h *clientHandler) Handle(_ context.Context, _ *jsonrpc2.Conn, r *jsonrpc2.Request) {
	if !r.Notif || r.Params == nil {
		return
	}
	if r.Method == EndNotification {
		var end EndParams
		if json.Unmarshal(*r.Params, &end) != nil {
			return
		}
		h.end(end.Subscription, endCause(end))
		return
	}
	var n StreamNotification[json.RawMessage]
	if json.Unmarshal(*r.Params, &n) != nil || n.Subscription == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if f, ok := h.subs[n.Subscription]; ok {
		f.Offer(n.Value)
		return
	}
	if q := h.early[n.Subscription]; len(q) < maxEarly {
		h.early[n.Subscription] = append(q, n.Value)
	}
}

func endCause(end EndParams) error {
	switch {
	case end.Reason == "fell behind":
		return feed.ErrFellBehind
	case end.Reason == "unsubscribed":
		return feed.ErrClosed
	case end.Error != nil:
		return end.Error
	default:
		return feed.ErrSourceClosed
	}
}

func (h *clientHandler) register(sid string, size int) *feed.Feed[json.RawMessage] {
	f := feed.New[json.RawMessage](size)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range h.early[sid] {
		f.Offer(v)
	}
	delete(h.early, sid)
	h.subs[sid] = f
	return f
}

func (h *clientHandler) end(sid string, cause error) {
	h.mu.Lock()
	f, ok := h.subs[sid]
	delete(h.subs, sid)
	h.mu.Unlock()
	if ok {
		f.End(cause)
	}
}

func (h *clientHandler) endAll(cause error) {
	h.mu.Lock()
	subs := h.subs
	h.subs = map[string]*feed.Feed[json.RawMessage]{}
	h.early = map[string][]json.RawMessage{}
	h.mu.Unlock()
	for _, f := range subs {
		f.End(cause)
	}
}

// Subscription is a live stream of notifications opened by a streaming
// method. Its queue is bounded: a consumer that falls behind gets
// feed.ErrFellBehind from Next and should subscribe again.
type Subscription struct {
	ID    string
	Value json.RawMessage // the method's initial value
	c     *Client
	f     *feed.Feed[json.RawMessage]
}

// SubscriptionQueue is how many undelivered items a client subscription
// holds before it counts as fallen behind.
const SubscriptionQueue = 1024

// Subscribe calls a streaming method and returns its subscription. It needs
// a stream transport (unix socket or WebSocket).
func (c *Client) Subscribe(ctx context.Context, method string, params any) (*Subscription, error) {
	if c.conn == nil {
		return nil, fmt.Errorf("%s: subscriptions need a stream transport (unix socket or ws://)", method)
	}
	resp, err := c.Invoke(ctx, method, params)
	if err != nil {
		return nil, err
	}
	var sr StreamResult[json.RawMessage]
	if err := json.Unmarshal(resp.Result, &sr); err != nil || sr.Subscription == "" {
		return nil, fmt.Errorf("%s: not a subscription result", method)
	}
	f := c.cl.register(sr.Subscription, SubscriptionQueue)
	// A connection that died between the reply and the registration would
	// leave the feed open forever.
	select {
	case <-c.conn.DisconnectNotify():
		c.cl.end(sr.Subscription, feed.ErrSourceClosed)
	default:
	}
	return &Subscription{ID: sr.Subscription, Value: sr.Value, c: c, f: f}, nil
}

// Next waits for the next item. When the subscription has ended it returns
// why: feed.ErrFellBehind, feed.ErrClosed, feed.ErrSourceClosed or a server
// error.
func (s *Subscription) Next(ctx context.Context) (json.RawMessage, error) {
	return s.f.Recv(ctx)
}

// Close ends the subscription on both sides.
func (s *Subscription) Close() error {
	if s.f.Ended() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.c.Call(ctx, "rpc.unsubscribe", UnsubscribeParams{Subscription: s.ID}, nil)
	s.c.cl.end(s.ID, feed.ErrClosed)
	return err
}

// Call is the typed form of (*Client).Call: Call[model.ServerTime](ctx, c, "server.time", nil).
func Call[R any](ctx context.Context, c *Client, method string, params any) (R, error) {
	var r R
	err := c.Call(ctx, method, params, &r)
	return r, err
}

// Upload sends a large body to /rest/rpc/<id> (an id a call such as
// package.sideload answered) and waits for the daemon's verdict.
func (c *Client) Upload(ctx context.Context, id string, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.restBase+"/rest/rpc/"+url.PathEscape(id), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if c.localCookie != "" {
		req.AddCookie(&http.Cookie{Name: LocalCookie, Value: c.localCookie})
	}
	resp, err := c.rest.Do(req)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK {
		return nil
	}
	var env struct {
		Error *Error `json:"error"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env) == nil && env.Error != nil {
		return env.Error
	}
	return fmt.Errorf("upload: HTTP %s", resp.Status)
}

// Sideload installs a package from its bytes as StartOS does: package.sideload
// answers a one-shot upload id, then the body goes to /rest/rpc/<id>, and the
// daemon answers when the install is done (or refused). It is the one copy of
// that two-step dance for every frontend.
func (c *Client) Sideload(ctx context.Context, p model.SideloadParams, body io.Reader, size int64) error {
	var sl model.SideloadResult
	if err := c.Call(ctx, "package.sideload", p, &sl); err != nil {
		return err
	}
	if sl.Upload == "" {
		return errors.New("package.sideload: the answer has no upload id")
	}
	return c.Upload(ctx, sl.Upload, body, size)
}

// SideloadFile is Sideload of the .s9pk file at path, which must be a
// regular file.
func (c *Client) SideloadFile(ctx context.Context, p model.SideloadParams, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return c.Sideload(ctx, p, f, st.Size())
}

// appendRequest appends the request {"jsonrpc":"2.0","id":id,
// "method":method,"params":params}, with params encoded once.
func appendRequest(dst []byte, id uint64, method string, params any) ([]byte, error) {
	p, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	m, err := json.Marshal(method)
	if err != nil {
		return nil, err
	}
	if dst == nil {
		dst = make([]byte, 0, len(p)+len(m)+64)
	}
	dst = append(dst, `{"jsonrpc":"2.0","id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, `,"method":`...)
	dst = append(dst, m...)
	dst = append(dst, `,"params":`...)
	dst = append(dst, p...)
	return append(dst, '}'), nil
}
