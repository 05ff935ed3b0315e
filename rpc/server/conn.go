package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/rpc/internal/jsonstream"
	"github.com/startos-go/startos/startos/caller"
	"github.com/startos-go/startos/startos/feed"
)

// maxInFlight bounds the calls one stream connection runs at once; the read
// loop waits when it is reached, which slows only that connection.
const maxInFlight = 32

// streamConn is one WebSocket or unix socket connection on the server.
type streamConn struct {
	srv    *Server
	peer   Peer
	who    caller.Caller // fixed for the connection's life
	stream *jsonstream.ObjectStream
	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc
	slots  chan struct{}
	work   sync.WaitGroup // in-flight calls and subscription pumps

	mu   sync.Mutex
	subs map[string]subscription // guarded by mu
}

// serveStream runs a connection until the peer goes away or the server shuts
// down, then ends its subscriptions and waits for every goroutine it started.
func (s *Server) serveStream(parent context.Context, fr jsonstream.Framer, peer Peer, who caller.Caller) {
	ctx, cancel := context.WithCancel(caller.With(withPeer(parent, peer), who))
	c := &streamConn{
		srv:    s,
		peer:   peer,
		who:    who,
		stream: jsonstream.NewObjectStream(fr, rejectFrame),
		ctx:    ctx,
		cancel: cancel,
		slots:  make(chan struct{}, maxInFlight),
		subs:   make(map[string]subscription),
	}
	if !s.track(c) {
		c.stream.Close()
		c.stream.Wait()
		cancel()
		return
	}
	defer s.untrack(c)
	conn := jsonrpc2.NewConn(ctx, c.stream, c, jsonrpc2.SetLogger(jsonstream.DebugLogger{Log: s.log}))
	select {
	case <-conn.DisconnectNotify():
	case <-ctx.Done():
	}
	cancel()
	conn.Close()
	c.endSubscriptions()
	c.work.Wait()
	c.stream.Wait()
}

// Handle is called by jsonrpc2's read loop for each request; it must return
// quickly, so calls run on their own goroutines, at most maxInFlight at once.
func (c *streamConn) Handle(_ context.Context, conn *jsonrpc2.Conn, r *jsonrpc2.Request) {
	params := emptyObject
	if r.Params != nil {
		params = *r.Params
	}
	req := &request{Method: r.Method, Params: params}
	if !r.Notif {
		req.ID, _ = json.Marshal(r.ID)
	}
	select {
	case c.slots <- struct{}{}:
	case <-c.ctx.Done():
		return
	}
	if e := c.srv.begin(); e != nil {
		<-c.slots
		if !r.Notif {
			c.replyError(conn, r.ID, e)
		}
		return
	}
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		defer c.srv.end()
		defer func() { <-c.slots }()
		c.call(conn, r, req)
	}()
}

func (c *streamConn) call(conn *jsonrpc2.Conn, r *jsonrpc2.Request, req *request) {
	if req.Method == "rpc.unsubscribe" {
		c.unsubscribe(conn, r, req)
		return
	}
	out := c.srv.run(c.ctx, req)
	if r.Notif {
		if out.stream != nil {
			out.stream.close()
		}
		return
	}
	if out.err != nil {
		c.replyError(conn, r.ID, out.err)
		return
	}
	if out.stream != nil {
		c.startSubscription(conn, r.ID, out)
		return
	}
	result := out.result
	if c.peer.Transport != "unix" {
		result = withoutToken(out.method, result)
	}
	c.reply(conn, r.ID, result, out.revision)
}

func (c *streamConn) reply(conn *jsonrpc2.Conn, id jsonrpc2.ID, result any, revision uint64) {
	b, merr := marshalResult(result)
	if merr != nil {
		c.replyError(conn, id, merr)
		return
	}
	// The result is encoded once: the envelope is written around it by
	// hand, byte for byte what jsonrpc2.Response encodes to, instead of
	// letting encoding/json re-validate the result at each of jsonrpc2's
	// layers (three more passes over it).
	idb, err := json.Marshal(id)
	if err != nil {
		c.replyError(conn, id, rpc.NewError(rpc.CodeInternalError, "Internal Error", "encode id: "+err.Error()))
		return
	}
	out := make([]byte, 0, len(b)+len(idb)+64)
	out = append(out, `{"id":`...)
	out = append(out, idb...)
	out = append(out, `,"result":`...)
	out = append(out, b...)
	if revision > 0 {
		meta, _ := json.Marshal(rpc.ResponseMeta{Revision: revision})
		out = append(out, `,"meta":`...)
		out = append(out, meta...)
	}
	out = append(out, `,"jsonrpc":"2.0"}`...)
	_ = c.stream.EnqueueReply(out) // a full queue closes the stream; the client resyncs
}

func (c *streamConn) replyError(conn *jsonrpc2.Conn, id jsonrpc2.ID, e *rpc.Error) {
	je := &jsonrpc2.Error{Code: int64(e.Code), Message: e.Message}
	if e.Data != nil {
		je.SetError(e.Data)
	}
	_ = conn.ReplyWithError(c.ctx, id, je)
}

// startSubscription registers the stream, answers with its id and initial
// value, then starts the pump that turns its items into notifications. The
// reply is queued before the pump starts, and replies go out before
// notifications, so the client always learns the id first.
func (c *streamConn) startSubscription(conn *jsonrpc2.Conn, id jsonrpc2.ID, out outcome) {
	sid := newSubscriptionID()
	c.mu.Lock()
	c.subs[sid] = out.stream
	c.mu.Unlock()
	c.reply(conn, id, rpc.StreamResult[any]{Subscription: sid, Value: out.result}, out.revision)
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		c.pump(sid, out.method.Notification, out.stream)
	}()
}

// pump forwards one subscription's items until it ends, then says why.
func (c *streamConn) pump(sid, method string, sub subscription) {
	for {
		v, err := sub.next(c.ctx)
		if err != nil {
			c.mu.Lock()
			delete(c.subs, sid)
			c.mu.Unlock()
			_ = c.notify(rpc.EndNotification, rpc.EndParams{Subscription: sid, Reason: endReason(err), Error: endError(err)})
			return
		}
		if err := c.notify(method, rpc.StreamNotification[any]{Subscription: sid, Value: v}); err != nil {
			sub.close()
			return
		}
	}
}

func endReason(err error) string {
	switch {
	case errors.Is(err, feed.ErrFellBehind):
		return "fell behind"
	case errors.Is(err, feed.ErrClosed):
		return "unsubscribed"
	default:
		return "closed"
	}
}

func endError(err error) *rpc.Error {
	if errors.Is(err, feed.ErrClosed) || errors.Is(err, feed.ErrSourceClosed) || errors.Is(err, context.Canceled) {
		return nil
	}
	return toError(err)
}

func (c *streamConn) notify(method string, params any) error {
	b, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  any    `json:"params"`
	}{"2.0", method, params})
	if err != nil {
		return err
	}
	return c.stream.Notify(c.ctx, b)
}

func (c *streamConn) unsubscribe(conn *jsonrpc2.Conn, r *jsonrpc2.Request, req *request) {
	m := c.srv.d.methods["rpc.unsubscribe"]
	p, perr := decodeParams(m, req.Params)
	if perr != nil {
		if !r.Notif {
			c.replyError(conn, r.ID, perr)
		}
		return
	}
	sid := p.(rpc.UnsubscribeParams).Subscription
	c.mu.Lock()
	sub, ok := c.subs[sid]
	c.mu.Unlock()
	if r.Notif {
		if ok {
			sub.close()
		}
		return
	}
	if !ok {
		c.replyError(conn, r.ID, rpc.NewError(rpc.CodeNotFound, "Not Found", "no subscription "+sid+" on this connection"))
		return
	}
	sub.close() // the pump sees it, removes it and sends rpc.end
	c.reply(conn, r.ID, struct{}{}, 0)
}

func (c *streamConn) endSubscriptions() {
	c.mu.Lock()
	subs := make([]subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	for _, s := range subs {
		s.close()
	}
}

var subIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newSubscriptionID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return subIDEncoding.EncodeToString(b)
}

// rejectFrame answers a frame that is not a valid request (or, with a nil
// frame, one that was too large), or returns nil for a good one.
func rejectFrame(b []byte, err error) []byte {
	var bad *rpc.WireResponse
	switch {
	case errors.Is(err, jsonstream.ErrFrameTooLarge):
		bad = errorResponse(nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request",
			fmt.Sprintf("message exceeds the limit of %d bytes (1 MiB)", rpc.MaxBodyBytes)))
	case err != nil:
		bad = errorResponse(nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", err.Error()))
	default:
		bad = checkStreamFrame(b)
	}
	if bad == nil {
		return nil
	}
	out, _ := json.Marshal(bad)
	return out
}

// checkStreamFrame validates a frame for the stream transports; nil means ok.
func checkStreamFrame(b []byte) *rpc.WireResponse {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errorResponse(nil, errEmptyRequest())
	case b[0] == '[':
		if !json.Valid(b) {
			return errorResponse(nil, errNotJSON())
		}
		return errorResponse(nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", "batches are supported over HTTP POST only; send one request per message"))
	}
	// parseRequest's decoding checks the syntax too; a separate scan of the
	// whole frame is only needed to name a failure.
	_, id, perr := parseRequest(b)
	if perr != nil {
		if !json.Valid(b) {
			return errorResponse(nil, errNotJSON())
		}
		return errorResponse(id, perr)
	}
	if string(id) == "null" {
		return errorResponse(nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", `"id" must not be null on a stream; omit it for a notification`))
	}
	return nil
}
