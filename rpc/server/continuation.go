package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/feed"
)

// ContinuationTTL is how long a stream opened over HTTP waits for its
// client at /ws/rpc/<guid> before it is dropped, as in StartOS.
const ContinuationTTL = 30 * time.Second

// continuations are the streams that a plain HTTP call opened (StartOS's
// pattern: the answer carries a guid, the client then opens the WebSocket
// /ws/rpc/<guid>, which streams one JSON text frame per item). A guid is a
// one-shot capability: whoever holds it may claim it once, within
// ContinuationTTL. It ends when its session ends, claimed or not.
type continuations struct {
	mu      sync.Mutex
	waiting map[string]*continuation // guarded by mu
	claimed map[*continuation]struct{}
}

type continuation struct {
	sub     subscription
	session string // the opener's session id; "" for the local administrator
	timer   *time.Timer
	cancel  context.CancelFunc // set once claimed
}

// guidEncoding spells guids as StartOS does: 32 characters of A–Z2–7.
var guidEncoding = subIDEncoding

func newGUID() string {
	b := make([]byte, 20)
	rand.Read(b)
	return guidEncoding.EncodeToString(b)
}

// open parks sub under a new guid until it is claimed or expires.
func (cs *continuations) open(sub subscription, session string) string {
	guid := newGUID()
	c := &continuation{sub: sub, session: session}
	cs.mu.Lock()
	if cs.waiting == nil {
		cs.waiting = make(map[string]*continuation)
		cs.claimed = make(map[*continuation]struct{})
	}
	cs.waiting[guid] = c
	c.timer = time.AfterFunc(ContinuationTTL, func() { cs.expire(guid, c) })
	cs.mu.Unlock()
	return guid
}

func (cs *continuations) expire(guid string, c *continuation) {
	cs.mu.Lock()
	mine := cs.waiting[guid] == c
	if mine {
		delete(cs.waiting, guid)
	}
	cs.mu.Unlock()
	if mine {
		c.sub.close()
	}
}

// claim takes the continuation for guid, once.
func (cs *continuations) claim(guid string, cancel context.CancelFunc) (*continuation, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, ok := cs.waiting[guid]
	if !ok {
		return nil, false
	}
	delete(cs.waiting, guid)
	c.timer.Stop()
	c.cancel = cancel
	cs.claimed[c] = struct{}{}
	return c, true
}

func (cs *continuations) release(c *continuation) {
	cs.mu.Lock()
	delete(cs.claimed, c)
	cs.mu.Unlock()
}

// endSessions drops the continuations of sessions that ended (or all of
// them, for shutdown, when ended is nil).
func (cs *continuations) endSessions(ended map[string]bool) {
	var subs []subscription
	var cancels []context.CancelFunc
	cs.mu.Lock()
	for guid, c := range cs.waiting {
		if ended == nil || (c.session != "" && ended[c.session]) {
			delete(cs.waiting, guid)
			c.timer.Stop()
			subs = append(subs, c.sub)
		}
	}
	for c := range cs.claimed {
		if ended == nil || (c.session != "" && ended[c.session]) {
			cancels = append(cancels, c.cancel)
		}
	}
	cs.mu.Unlock()
	for _, s := range subs {
		s.close()
	}
	for _, cancel := range cancels {
		cancel()
	}
}

// continuationResult is what an HTTP call of a streaming method answers:
// the initial value's fields plus "guid" (StartOS's {dump, guid},
// {startCursor, guid}), or the value under the method's GUIDKey
// ({metrics, guid}).
func continuationResult(m *Method, initial any, guid string) (json.RawMessage, *rpc.Error) {
	b, e := marshalResult(initial)
	if e != nil {
		return nil, e
	}
	g, _ := json.Marshal(guid)
	if m.GUIDKey != "" || len(b) < 2 || b[0] != '{' {
		key := m.GUIDKey
		if key == "" {
			key = "value"
		}
		k, _ := json.Marshal(key)
		return json.RawMessage(`{"guid":` + string(g) + `,` + string(k) + `:` + string(b) + `}`), nil
	}
	body := bytes.TrimSpace(b[1 : len(b)-1])
	if len(body) == 0 {
		return json.RawMessage(`{"guid":` + string(g) + `}`), nil
	}
	return json.RawMessage(`{` + string(body) + `,"guid":` + string(g) + `}`), nil
}

// serveContinuation is GET /ws/rpc/<guid>: it streams the parked
// subscription's items as JSON text frames and closes with "complete" when
// the source ends, or with an error code and the reason when the client
// fell behind or the item could not be sent.
func (s *Server) serveContinuation(w http.ResponseWriter, r *http.Request) {
	guid := strings.TrimPrefix(r.URL.Path, "/ws/rpc/")
	if !s.admit(w) {
		return
	}
	defer s.accepted.Done()

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	c, ok := s.conts.claim(guid, cancel)
	if !ok {
		http.Error(w, "no stream waits under this guid: it was claimed already, expired after 30 s, or never existed", http.StatusNotFound)
		return
	}
	defer s.conts.release(c)
	defer c.sub.close()
	liftDeadlines(w)
	// guard has checked Host and Origin already.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	// Client messages are ignored, as in StartOS; reading notices its
	// close. The read gets a context of its own: cancelling the one given to
	// CloseRead drops the connection without a close frame, and this
	// handler wants to say why it ends.
	readCtx, stopRead := context.WithCancel(context.Background())
	defer stopRead()
	clientGone := ws.CloseRead(readCtx)
	defer context.AfterFunc(clientGone, cancel)()
	for {
		v, err := c.sub.next(ctx)
		if err != nil {
			switch {
			case errors.Is(err, feed.ErrFellBehind):
				ws.Close(websocket.StatusTryAgainLater, "fell behind: call the method again for a fresh value")
			case errors.Is(err, feed.ErrSourceClosed), errors.Is(err, feed.ErrClosed):
				ws.Close(websocket.StatusNormalClosure, "complete")
			case clientGone.Err() != nil:
				// The client closed; nothing to say.
			case s.ctx.Err() != nil:
				ws.Close(websocket.StatusGoingAway, "the daemon is shutting down")
			default:
				ws.Close(websocket.StatusPolicyViolation, "session ended")
			}
			return
		}
		b, merr := json.Marshal(v)
		if merr != nil {
			ws.Close(websocket.StatusInternalError, "encode item: "+merr.Error())
			return
		}
		wctx, wcancel := context.WithTimeout(ctx, rpc.WriteTimeout)
		err = ws.Write(wctx, websocket.MessageText, b)
		wcancel()
		if err != nil {
			return
		}
	}
}
