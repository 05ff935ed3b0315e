package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/sourcegraph/jsonrpc2"
)

// WriteTimeout bounds every write to a stream peer. A peer that does not take
// a message within it is disconnected, so a wedged client never holds
// anything else up.
const WriteTimeout = 10 * time.Second

// framer moves whole messages over a connection.
type framer interface {
	readFrame() ([]byte, error)
	writeFrame(b []byte) error // bounded by WriteTimeout
	close() error
}

// errFrameTooLarge is returned by a framer that skipped an oversized message
// and can go on reading.
var errFrameTooLarge = fmt.Errorf("message exceeds the limit of %d bytes (1 MiB)", MaxBodyBytes)

// lineFramer is newline-delimited JSON over a byte stream (the unix socket).
type lineFramer struct {
	c   net.Conn
	r   *bufio.Reader
	max int // longest line accepted
}

// MaxReplyBytes bounds one message a client accepts from the daemon.
const MaxReplyBytes = 64 << 20

func newLineFramer(c net.Conn, max int) *lineFramer {
	return &lineFramer{c: c, r: bufio.NewReaderSize(c, 64<<10), max: max}
}

func (f *lineFramer) readFrame() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := f.r.ReadSlice('\n')
		if len(buf)+len(chunk) > f.max+1 {
			// Skip the rest of this line, then report it.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = f.r.ReadSlice('\n')
			}
			if err != nil {
				return nil, err
			}
			return nil, errFrameTooLarge
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			if line := bytes.TrimSpace(buf); len(line) > 0 {
				return line, nil
			}
			buf = buf[:0] // blank line: keep reading
		case errors.Is(err, bufio.ErrBufferFull):
		default:
			if line := bytes.TrimSpace(buf); len(line) > 0 && errors.Is(err, io.EOF) {
				return line, nil
			}
			return nil, err
		}
	}
}

func (f *lineFramer) writeFrame(b []byte) error {
	_ = f.c.SetWriteDeadline(time.Now().Add(WriteTimeout))
	_, err := f.c.Write(append(b, '\n'))
	return err
}

func (f *lineFramer) close() error { return f.c.Close() }

// wsFramer is one JSON text message per WebSocket message.
type wsFramer struct {
	c   *websocket.Conn
	ctx context.Context // the connection's lifetime
}

func (f *wsFramer) readFrame() ([]byte, error) {
	_, b, err := f.c.Read(f.ctx)
	return b, err
}

func (f *wsFramer) writeFrame(b []byte) error {
	ctx, cancel := context.WithTimeout(f.ctx, WriteTimeout)
	defer cancel()
	return f.c.Write(ctx, websocket.MessageText, b)
}

func (f *wsFramer) close() error { return f.c.Close(websocket.StatusNormalClosure, "") }

// objectStream adapts a framer to jsonrpc2.ObjectStream with a bounded
// outgoing queue drained by one writer goroutine. Replies never wait: when
// their queue is full the peer is not reading and is disconnected.
// Notifications wait for room (their producers are bounded feeds that end
// when they cannot deliver), and replies go out before queued notifications.
type objectStream struct {
	fr      framer
	server  bool // validate incoming requests and answer bad ones here
	replies chan []byte
	notes   chan []byte
	done    chan struct{}
	once    sync.Once
	writer  sync.WaitGroup
	pending atomic.Int64 // queued or being written
	// results, on a client, receives each response's result by id (see
	// liftResult); nil on a server.
	results *sync.Map
}

const (
	replyQueue        = 64
	notificationQueue = 256
)

func newObjectStream(fr framer, server bool) *objectStream {
	s := &objectStream{
		fr:      fr,
		server:  server,
		replies: make(chan []byte, replyQueue),
		notes:   make(chan []byte, notificationQueue),
		done:    make(chan struct{}),
	}
	s.writer.Add(1)
	go s.writeLoop()
	return s
}

func (s *objectStream) writeLoop() {
	defer s.writer.Done()
	for {
		var b []byte
		select {
		case b = <-s.replies:
		default:
			select {
			case b = <-s.replies:
			case b = <-s.notes:
			case <-s.done:
				return
			}
		}
		err := s.fr.writeFrame(b)
		s.pending.Add(-1)
		if err != nil {
			s.Close()
			return
		}
	}
}

// ReadObject returns the next valid message. On the server side, a frame that
// is not a valid request is answered here and skipped, so one bad message
// never ends the connection.
func (s *objectStream) ReadObject(v any) error {
	for {
		b, err := s.fr.readFrame()
		if errors.Is(err, errFrameTooLarge) && s.server {
			s.reply(errorResponse(nil, newError(CodeInvalidRequest, "Invalid Request", errFrameTooLarge.Error())))
			continue
		}
		if err != nil {
			return err
		}
		if !s.server {
			if s.results != nil {
				if small, ok := s.liftResult(b); ok {
					b = small
				}
			}
			return json.Unmarshal(b, v)
		}
		if bad := checkStreamFrame(b); bad != nil {
			s.reply(bad)
			continue
		}
		if err := json.Unmarshal(b, v); err != nil {
			s.reply(errorResponse(nil, newError(CodeInvalidRequest, "Invalid Request", err.Error())))
			continue
		}
		return nil
	}
}

// liftResult takes a response's result out of its frame into s.results and
// returns the frame with a null result in its place. jsonrpc2 decodes every
// result into a generic tree only to learn that it is there, then decodes it
// twice more; lifted, it is decoded once, into the caller's type (see
// Client.Invoke).
func (s *objectStream) liftResult(b []byte) ([]byte, bool) {
	var head struct {
		ID     *jsonrpc2.ID    `json:"id"`
		Method json.RawMessage `json:"method"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
		Meta   json.RawMessage `json:"meta"`
	}
	if json.Unmarshal(b, &head) != nil || head.ID == nil || head.Method != nil || head.Error != nil ||
		len(head.Result) == 0 || string(head.Result) == "null" {
		return nil, false
	}
	idb, err := json.Marshal(head.ID)
	if err != nil {
		return nil, false
	}
	small := make([]byte, 0, len(idb)+len(head.Meta)+48)
	small = append(small, `{"id":`...)
	small = append(small, idb...)
	small = append(small, `,"result":null`...)
	if head.Meta != nil {
		small = append(small, `,"meta":`...)
		small = append(small, head.Meta...)
	}
	small = append(small, `,"jsonrpc":"2.0"}`...)
	s.results.Store(*head.ID, head.Result)
	return small, true
}

// checkStreamFrame validates a frame for the stream transports; nil means ok.
func checkStreamFrame(b []byte) *wireResponse {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errorResponse(nil, errEmptyRequest())
	case b[0] == '[':
		if !json.Valid(b) {
			return errorResponse(nil, errNotJSON())
		}
		return errorResponse(nil, newError(CodeInvalidRequest, "Invalid Request", "batches are supported over HTTP POST only; send one request per message"))
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
		return errorResponse(nil, newError(CodeInvalidRequest, "Invalid Request", `"id" must not be null on a stream; omit it for a notification`))
	}
	return nil
}

func (s *objectStream) reply(r *wireResponse) {
	b, _ := json.Marshal(r)
	_ = s.enqueueReply(b)
}

// WriteObject is called by jsonrpc2 for replies (server) and requests
// (client). On the server it never blocks: a full queue disconnects the peer.
// A client waits for room instead; the writer's deadline bounds that wait.
func (s *objectStream) WriteObject(obj any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if !s.server {
		s.pending.Add(1)
		select {
		case s.replies <- b:
			return nil
		case <-s.done:
			s.pending.Add(-1)
			return errClosedStream
		}
	}
	return s.enqueueReply(b)
}

var errClosedStream = errors.New("rpc: connection closed")

func (s *objectStream) enqueueReply(b []byte) error {
	select {
	case <-s.done:
		return errClosedStream
	default:
	}
	s.pending.Add(1)
	select {
	case s.replies <- b:
		return nil
	default:
		s.pending.Add(-1)
		s.Close()
		return errors.New("rpc: peer is not reading its responses; disconnected")
	}
}

// notify queues a notification, waiting for room until ctx ends or the
// stream closes.
func (s *objectStream) notify(ctx context.Context, b []byte) error {
	s.pending.Add(1)
	select {
	case s.notes <- b:
		return nil
	case <-s.done:
		s.pending.Add(-1)
		return errClosedStream
	case <-ctx.Done():
		s.pending.Add(-1)
		return ctx.Err()
	}
}

// Close stops the writer and closes the connection. It may be called from any
// goroutine, more than once.
func (s *objectStream) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.fr.close()
	})
	return err
}

// flushAndClose waits up to timeout for queued messages to be written, then
// closes. Used when the server shuts down, after in-flight calls replied.
func (s *objectStream) flushAndClose(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for s.pending.Load() > 0 && time.Now().Before(deadline) {
		select {
		case <-s.done:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	s.Close()
}

// wait returns once the writer goroutine has exited.
func (s *objectStream) wait() { s.writer.Wait() }
