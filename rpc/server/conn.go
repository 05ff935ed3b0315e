package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

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
	work   sync.WaitGroup // call workers and subscription pumps
	// idle hands a call to a worker waiting for one. Workers are kept for
	// the connection's life (at most maxInFlight, counted by workers, which
	// only the read loop touches): a new goroutine's stack grows, by
	// copying, the first time it decodes params, which cost a sixth of an
	// echo when every call had a goroutine of its own.
	idle    chan *request
	workers int

	mu   sync.Mutex
	subs map[string]subscription // guarded by mu
}

// serveStream runs a connection until the peer goes away or the server shuts
// down, then ends its subscriptions and waits for every goroutine it started.
// Each frame is decoded once, by parseRequest; params once more into the
// method's own type.
func (s *Server) serveStream(parent context.Context, fr jsonstream.Framer, peer Peer, who caller.Caller) {
	ctx, cancel := context.WithCancel(caller.With(withPeer(parent, peer), who))
	c := &streamConn{
		srv:    s,
		peer:   peer,
		who:    who,
		stream: jsonstream.NewObjectStream(fr),
		ctx:    ctx,
		cancel: cancel,
		slots:  make(chan struct{}, maxInFlight),
		idle:   make(chan *request),
		subs:   make(map[string]subscription),
	}
	if !s.track(c) {
		c.stream.Close()
		c.stream.Wait()
		cancel()
		return
	}
	defer s.untrack(c)
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		<-ctx.Done()
		c.stream.Close() // ends the read below at shutdown or session end
	}()
	for c.readOne(fr) {
	}
	cancel()
	c.stream.Close()
	c.endSubscriptions()
	c.work.Wait()
	c.stream.Wait()
}

// readOne reads and starts one request, answering a bad frame itself; false
// ends the connection.
func (c *streamConn) readOne(fr jsonstream.Framer) bool {
	b, err := fr.ReadFrame()
	if errors.Is(err, jsonstream.ErrFrameTooLarge) {
		c.enqueue(errorResponse(nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request",
			fmt.Sprintf("message exceeds the limit of %d bytes (1 MiB)", rpc.MaxBodyBytes))))
		return true
	}
	if err != nil {
		return false
	}
	req, bad := readStreamRequest(b)
	if bad != nil {
		c.enqueue(bad)
		return true
	}
	// Calls run on the connection's workers, at most maxInFlight at once;
	// the read waits when that many run, which slows only this connection.
	select {
	case c.slots <- struct{}{}:
	case <-c.ctx.Done():
		return false
	}
	if e := c.srv.begin(); e != nil {
		<-c.slots
		if !req.notification() {
			c.replyError(req.ID, e)
		}
		return true
	}
	if m := c.srv.d.methods[req.Method]; m != nil && m.quick {
		c.runCall(req)
		return true
	}
	select {
	case c.idle <- req:
		return true
	default:
	}
	if c.workers < maxInFlight {
		c.workers++
		c.work.Add(1)
		go c.worker(req)
		return true
	}
	// Every worker exists, and one is finishing (this call holds a slot).
	select {
	case c.idle <- req:
		return true
	case <-c.ctx.Done():
		c.srv.end()
		<-c.slots
		return false
	}
}

// worker runs calls until the connection ends.
func (c *streamConn) worker(req *request) {
	defer c.work.Done()
	for {
		c.runCall(req)
		select {
		case req = <-c.idle:
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *streamConn) runCall(req *request) {
	defer func() { <-c.slots }()
	defer c.srv.end()
	c.call(req)
}

func (c *streamConn) call(req *request) {
	if req.Method == "rpc.unsubscribe" {
		c.unsubscribe(req)
		return
	}
	out := c.srv.run(c.ctx, req)
	if req.notification() {
		if out.stream != nil {
			out.stream.close()
		}
		return
	}
	if out.err != nil {
		c.replyError(req.ID, out.err)
		return
	}
	if out.stream != nil {
		c.startSubscription(req.ID, out)
		return
	}
	result := out.result
	if c.peer.Transport != "unix" {
		result = withoutToken(out.method, result)
	}
	c.reply(req.ID, result, out.revision)
}

// reply sends a result. The result is encoded once and the envelope written
// around it by hand (the id as the request spelled it), in the order
// {id, result, meta, jsonrpc} clients have always seen.
func (c *streamConn) reply(id json.RawMessage, result any, revision uint64) {
	b, merr := marshalResult(result)
	if merr != nil {
		c.replyError(id, merr)
		return
	}
	out := make([]byte, 0, len(b)+len(id)+64)
	out = append(out, `{"id":`...)
	out = append(out, id...)
	out = append(out, `,"result":`...)
	out = append(out, b...)
	if revision > 0 {
		out = append(out, `,"meta":{"revision":`...)
		out = strconv.AppendUint(out, revision, 10)
		out = append(out, '}')
	}
	out = append(out, `,"jsonrpc":"2.0"}`...)
	_ = c.stream.EnqueueReply(out) // a full queue closes the stream; the client resyncs
}

func (c *streamConn) replyError(id json.RawMessage, e *rpc.Error) {
	c.enqueue(errorResponse(id, e))
}

// enqueue sends an error response, in the order {id, error, jsonrpc}.
func (c *streamConn) enqueue(r *rpc.WireResponse) {
	b, err := json.Marshal(struct {
		ID    json.RawMessage `json:"id"`
		Error *rpc.Error      `json:"error"`
	}{r.ID, r.Error})
	if err != nil {
		return
	}
	b = append(b[:len(b)-1], `,"jsonrpc":"2.0"}`...)
	_ = c.stream.EnqueueReply(b)
}

// startSubscription registers the stream, answers with its id and initial
// value, then starts the pump that turns its items into notifications. The
// reply is queued before the pump starts, and replies go out before
// notifications, so the client always learns the id first.
func (c *streamConn) startSubscription(id json.RawMessage, out outcome) {
	sid := newSubscriptionID()
	c.mu.Lock()
	c.subs[sid] = out.stream
	c.mu.Unlock()
	c.reply(id, rpc.StreamResult[any]{Subscription: sid, Value: out.result}, out.revision)
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

func (c *streamConn) unsubscribe(req *request) {
	m := c.srv.d.methods["rpc.unsubscribe"]
	p, perr := decodeParams(m, req.Params)
	if perr != nil {
		if !req.notification() {
			c.replyError(req.ID, perr)
		}
		return
	}
	sid := p.(rpc.UnsubscribeParams).Subscription
	c.mu.Lock()
	sub, ok := c.subs[sid]
	c.mu.Unlock()
	if req.notification() {
		if ok {
			sub.close()
		}
		return
	}
	if !ok {
		c.replyError(req.ID, rpc.NewError(rpc.CodeNotFound, "Not Found", "no subscription "+sid+" on this connection"))
		return
	}
	sub.close() // the pump sees it, removes it and sends rpc.end
	c.reply(req.ID, struct{}{}, 0)
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

// readStreamRequest decodes one frame of a stream transport, or returns the
// answer to a bad one.
func readStreamRequest(b []byte) (*request, *rpc.WireResponse) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return nil, errorResponse(nil, errEmptyRequest())
	case b[0] == '[':
		if !json.Valid(b) {
			return nil, errorResponse(nil, errNotJSON())
		}
		return nil, errorResponse(nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", "batches are supported over HTTP POST only; send one request per message"))
	}
	// parseRequest's decoding checks the syntax too; a separate scan of the
	// whole frame is only needed to name a failure.
	req, id, perr := parseRequest(b)
	if perr != nil {
		if !json.Valid(b) {
			return nil, errorResponse(nil, errNotJSON())
		}
		return nil, errorResponse(id, perr)
	}
	if string(id) == "null" {
		return nil, errorResponse(nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", `"id" must not be null on a stream; omit it for a notification`))
	}
	return req, nil
}
