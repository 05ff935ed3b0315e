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

	"github.com/startos-go/startos/rpc/internal/jsonobj"
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

// ObjectStream adapts a framer to jsonrpc2.ObjectStream with bounded
// outgoing queues. Replies never wait for room: when theirs is full the peer
// is not reading and is disconnected. Notifications wait for room (their
// producers are bounded feeds that end when they cannot deliver), and
// replies go out before queued notifications.
//
// A message that finds the connection idle (nothing queued, nobody writing)
// is written by its sender's goroutine, so a round trip costs no hand-off to
// a writer goroutine; otherwise it is queued, and the connection's writer
// goroutine, woken only then, drains the queues. The write side has one
// owner at a time, passed through the writing flag: no lock is held across
// a write, and every write carries the framer's deadline, so a peer that
// does not read holds up only its own connection, for at most WriteTimeout.
type ObjectStream struct {
	fr Framer
	// replyRoom and noteRoom hold a token per reply (or request) and per
	// notification queued or being written: their capacity bounds the
	// queues.
	replyRoom chan struct{}
	noteRoom  chan struct{}
	wake      chan struct{} // hands the write side to the writer goroutine
	done      chan struct{}
	once      sync.Once
	writer    sync.WaitGroup
	pending   atomic.Int64 // queued or being written

	mu      sync.Mutex // guards the fields below; never held across a write
	closed  bool
	writing bool // a goroutine owns the write side
	replies fifo
	notes   fifo

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
		fr:        fr,
		replyRoom: make(chan struct{}, replyQueue),
		noteRoom:  make(chan struct{}, notificationQueue),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	s.writer.Add(1)
	go s.writeLoop()
	return s
}

// ErrClosed is returned by writes after the stream closed.
var ErrClosed = errors.New("rpc: connection closed")

// errNotReading disconnects a peer whose replies no longer fit their queue.
var errNotReading = errors.New("rpc: peer is not reading its responses; disconnected")

// send writes b at once when the connection is idle and direct is set,
// else queues it (urgent: with the replies) for the writer goroutine. The
// caller holds a token of b's room, which send gives back.
func (s *ObjectStream) send(b []byte, urgent, direct bool) error {
	room := s.noteRoom
	if urgent {
		room = s.replyRoom
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-room
		return ErrClosed
	}
	s.pending.Add(1)
	if direct && !s.writing && s.replies.len()+s.notes.len() == 0 {
		s.writing = true
		s.mu.Unlock()
		err := s.write(b, room)
		if err == nil {
			s.handOff()
		}
		return err
	}
	if urgent {
		s.replies.push(b)
	} else {
		s.notes.push(b)
	}
	wake := !s.writing
	s.writing = true
	s.mu.Unlock()
	if wake {
		s.wake <- struct{}{} // at most one hand-off is ever outstanding
	}
	return nil
}

// write writes one frame as the owner of the write side; a failed write
// closes the stream.
func (s *ObjectStream) write(b []byte, room chan struct{}) error {
	err := s.fr.WriteFrame(b)
	s.pending.Add(-1)
	<-room
	if err != nil {
		s.Close()
	}
	return err
}

// handOff gives up the write side after a sender's own write: to the writer
// goroutine when messages were queued meanwhile.
func (s *ObjectStream) handOff() {
	s.mu.Lock()
	more := !s.closed && s.replies.len()+s.notes.len() > 0
	if !more {
		s.writing = false
	}
	s.mu.Unlock()
	if more {
		s.wake <- struct{}{}
	}
}

// writeLoop drains the queues each time the write side is handed to it,
// replies first, and gives the side up when they are empty.
func (s *ObjectStream) writeLoop() {
	defer s.writer.Done()
	for {
		select {
		case <-s.wake:
		case <-s.done:
			return
		}
		for {
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				return
			}
			var b []byte
			room := s.replyRoom
			switch {
			case s.replies.len() > 0:
				b = s.replies.pop()
			case s.notes.len() > 0:
				b, room = s.notes.pop(), s.noteRoom
			default:
				s.writing = false
			}
			s.mu.Unlock()
			if b == nil {
				break
			}
			if s.write(b, room) != nil {
				return
			}
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
	// One validating pass, then the members are split without decoding
	// (an Unmarshal into raw fields scanned the result twice: as much as
	// decoding it into its type).
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' || !json.Valid(b) {
		return nil, false
	}
	var idRaw, method, result, errv, meta []byte
	for m := jsonobj.Walk(b); ; {
		k, v, ok := m.Next()
		if !ok {
			break
		}
		switch {
		case jsonobj.KeyIs(k, "id"):
			idRaw = v
		case jsonobj.KeyIs(k, "method"):
			method = v
		case jsonobj.KeyIs(k, "result"):
			result = v
		case jsonobj.KeyIs(k, "error"):
			errv = v
		case jsonobj.KeyIs(k, "meta"):
			meta = v
		}
	}
	if idRaw == nil || string(idRaw) == "null" || method != nil || errv != nil || result == nil || string(result) == "null" {
		return nil, false
	}
	var id jsonrpc2.ID
	if json.Unmarshal(idRaw, &id) != nil {
		return nil, false
	}
	small := make([]byte, 0, len(idRaw)+len(meta)+48)
	small = append(small, `{"id":`...)
	small = append(small, idRaw...)
	small = append(small, `,"result":null`...)
	if meta != nil {
		small = append(small, `,"meta":`...)
		small = append(small, meta...)
	}
	small = append(small, `,"jsonrpc":"2.0"}`...)
	s.Results.Store(id, json.RawMessage(bytes.Clone(result))) // b is the framer's, reused
	return small, true
}

// WriteObject is called by a client's jsonrpc2 connection for requests. It
// waits for room; the writer's deadline bounds that wait. It always queues:
// jsonrpc2 holds its send lock around this call.
func (s *ObjectStream) WriteObject(obj any) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if err := s.acquire(context.Background(), s.replyRoom); err != nil {
		return err
	}
	return s.send(b, true, false)
}

// EnqueueReply sends a reply without waiting for room: a full queue means
// the peer is not reading, and disconnects it. When the connection is idle
// the reply is written before EnqueueReply returns.
func (s *ObjectStream) EnqueueReply(b []byte) error {
	select {
	case s.replyRoom <- struct{}{}:
	default:
		s.Close()
		return errNotReading
	}
	return s.send(b, true, true)
}

// Notify sends a notification, waiting for room until ctx ends or the
// stream closes.
func (s *ObjectStream) Notify(ctx context.Context, b []byte) error {
	if err := s.acquire(ctx, s.noteRoom); err != nil {
		return err
	}
	return s.send(b, false, true)
}

// acquire takes a token of room, waiting until ctx ends or the stream
// closes.
func (s *ObjectStream) acquire(ctx context.Context, room chan struct{}) error {
	select {
	case room <- struct{}{}:
		return nil
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the writer and closes the connection. It may be called from any
// goroutine, more than once.
func (s *ObjectStream) Close() error {
	var err error
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
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

// fifo is a queue of frames whose storage is reused once it drains.
type fifo struct {
	items [][]byte
	head  int
}

func (q *fifo) len() int { return len(q.items) - q.head }

func (q *fifo) push(b []byte) {
	if q.head > 0 && len(q.items) == cap(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, b)
}

func (q *fifo) pop() []byte {
	b := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return b
}

// DebugLogger sends jsonrpc2's own messages (mostly "peer went away") to the
// debug level instead of the standard logger.
type DebugLogger struct{ Log hclog.Logger }

func (l DebugLogger) Printf(format string, v ...any) {
	l.Log.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
