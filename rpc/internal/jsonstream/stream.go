// Package jsonstream moves JSON-RPC messages over a connection for both ends
// of the stream transports (the unix socket and WebSocket): framing, and a
// jsonrpc2.ObjectStream with a bounded outgoing queue.
package jsonstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"
	"github.com/sourcegraph/jsonrpc2"
)

// WriteTimeout bounds every write to a stream peer (rpc.WriteTimeout).
const WriteTimeout = 10 * time.Second

// Framer moves whole messages over a connection.
type Framer interface {
	ReadFrame() ([]byte, error)
	WriteFrame(b []byte) error // bounded by WriteTimeout
	Close() error
}

// ErrFrameTooLarge is returned by a framer that skipped an oversized message
// and can go on reading.
var ErrFrameTooLarge = errors.New("message exceeds the limit")

// LineFramer is newline-delimited JSON over a byte stream (the unix socket).
type LineFramer struct {
	c   net.Conn
	r   *bufio.Reader
	max int // longest line accepted
}

// NewLineFramer frames c, reading through r (nil: a new buffer) and
// accepting lines of at most max bytes.
func NewLineFramer(c net.Conn, r *bufio.Reader, max int) *LineFramer {
	if r == nil {
		r = bufio.NewReaderSize(c, 64<<10)
	}
	return &LineFramer{c: c, r: r, max: max}
}

func (f *LineFramer) ReadFrame() ([]byte, error) {
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
			return nil, ErrFrameTooLarge
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

func (f *LineFramer) WriteFrame(b []byte) error {
	_ = f.c.SetWriteDeadline(time.Now().Add(WriteTimeout))
	_, err := f.c.Write(append(b, '\n'))
	return err
}

func (f *LineFramer) Close() error { return f.c.Close() }

// WSFramer is one JSON text message per WebSocket message.
type WSFramer struct {
	C   *websocket.Conn
	Ctx context.Context // the connection's lifetime
}

func (f *WSFramer) ReadFrame() ([]byte, error) {
	_, b, err := f.C.Read(f.Ctx)
	return b, err
}

func (f *WSFramer) WriteFrame(b []byte) error {
	ctx, cancel := context.WithTimeout(f.Ctx, WriteTimeout)
	defer cancel()
	return f.C.Write(ctx, websocket.MessageText, b)
}

func (f *WSFramer) Close() error { return f.C.Close(websocket.StatusNormalClosure, "") }

// ObjectStream adapts a framer to jsonrpc2.ObjectStream with a bounded
// outgoing queue drained by one writer goroutine. Replies never wait: when
// their queue is full the peer is not reading and is disconnected.
// Notifications wait for room (their producers are bounded feeds that end
// when they cannot deliver), and replies go out before queued notifications.
type ObjectStream struct {
	fr      Framer
	replies chan []byte
	notes   chan []byte
	done    chan struct{}
	once    sync.Once
	writer  sync.WaitGroup
	pending atomic.Int64 // queued or being written
	// results, on a client, receives each response's result by id (see
	// liftResult); nil on a server.
	Results *sync.Map
}

const (
	replyQueue        = 64
	notificationQueue = 256
)

// NewObjectStream starts the writer of a stream over fr.
func NewObjectStream(fr Framer) *ObjectStream {
	s := &ObjectStream{
		fr:      fr,
		replies: make(chan []byte, replyQueue),
		notes:   make(chan []byte, notificationQueue),
		done:    make(chan struct{}),
	}
	s.writer.Add(1)
	go s.writeLoop()
	return s
}

func (s *ObjectStream) writeLoop() {
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
		err := s.fr.WriteFrame(b)
		s.pending.Add(-1)
		if err != nil {
			s.Close()
			return
		}
	}
}

// ReadObject returns the next message, for a client's jsonrpc2 connection
// (the server reads frames itself and decodes each once).
func (s *ObjectStream) ReadObject(v any) error {
	b, err := s.fr.ReadFrame()
	if err != nil {
		return err
	}
	if s.Results != nil {
		if small, ok := s.liftResult(b); ok {
			b = small
		}
	}
	return json.Unmarshal(b, v)
}

// liftResult takes a response's result out of its frame into s.results and
// returns the frame with a null result in its place. jsonrpc2 decodes every
// result into a generic tree only to learn that it is there, then decodes it
// twice more; lifted, it is decoded once, into the caller's type (see
// Client.Invoke).
func (s *ObjectStream) liftResult(b []byte) ([]byte, bool) {
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
	s.Results.Store(*head.ID, head.Result)
	return small, true
}

// WriteObject is called by a client's jsonrpc2 connection for requests. It
// waits for room; the writer's deadline bounds that wait.
func (s *ObjectStream) WriteObject(obj any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	s.pending.Add(1)
	select {
	case s.replies <- b:
		return nil
	case <-s.done:
		s.pending.Add(-1)
		return ErrClosed
	}
}

// ErrClosed is returned by writes after the stream closed.
var ErrClosed = errors.New("rpc: connection closed")

// EnqueueReply queues a reply without waiting: a full queue means the peer
// is not reading, and disconnects it.
func (s *ObjectStream) EnqueueReply(b []byte) error {
	select {
	case <-s.done:
		return ErrClosed
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

// Notify queues a notification, waiting for room until ctx ends or the
// stream closes.
func (s *ObjectStream) Notify(ctx context.Context, b []byte) error {
	s.pending.Add(1)
	select {
	case s.notes <- b:
		return nil
	case <-s.done:
		s.pending.Add(-1)
		return ErrClosed
	case <-ctx.Done():
		s.pending.Add(-1)
		return ctx.Err()
	}
}

// Close stops the writer and closes the connection. It may be called from any
// goroutine, more than once.
func (s *ObjectStream) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.fr.Close()
	})
	return err
}

// FlushAndClose waits up to timeout for queued messages to be written, then
// closes. Used when the server shuts down, after in-flight calls replied.
func (s *ObjectStream) FlushAndClose(timeout time.Duration) {
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

// Wait returns once the writer goroutine has exited.
func (s *ObjectStream) Wait() { s.writer.Wait() }

// DebugLogger sends jsonrpc2's own messages (mostly "peer went away") to the
// debug level instead of the standard logger.
type DebugLogger struct{ Log hclog.Logger }

func (l DebugLogger) Printf(format string, v ...any) {
	l.Log.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
