package jsonstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gateFramer records the frames written. While its gate is shut, a write
// announces itself on entered and blocks until the gate opens or the framer
// is closed: a peer that does not read.
type gateFramer struct {
	entered chan string
	closed  chan struct{}
	once    sync.Once

	mu      sync.Mutex
	gate    chan struct{} // nil: open
	written []string
}

func newGateFramer() *gateFramer {
	return &gateFramer{entered: make(chan string, 1024), closed: make(chan struct{})}
}

func (f *gateFramer) shut() {
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
}

func (f *gateFramer) open() {
	f.mu.Lock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
	f.mu.Unlock()
}

func (f *gateFramer) WriteFrame(b []byte) error {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		f.entered <- string(b)
		select {
		case <-gate:
		case <-f.closed:
			return ErrClosed
		}
	}
	select {
	case <-f.closed:
		return ErrClosed
	default:
	}
	f.mu.Lock()
	f.written = append(f.written, string(b))
	f.mu.Unlock()
	return nil
}

func (f *gateFramer) frames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.written)
}

func (f *gateFramer) ReadFrame() ([]byte, error) { <-f.closed; return nil, ErrClosed }

func (f *gateFramer) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

// An idle connection's reply is written by the replying goroutine itself:
// it is out before EnqueueReply returns, with no writer goroutine involved.
func TestReplyOnIdleConnectionIsWrittenAtOnce(t *testing.T) {
	fr := newGateFramer()
	s := NewObjectStream(fr)
	defer func() { s.Close(); s.Wait() }()
	for i := range 3 {
		if err := s.EnqueueReply(fmt.Appendf(nil, "r%d", i)); err != nil {
			t.Fatal(err)
		}
		if got := fr.frames(); len(got) != i+1 || got[i] != fmt.Sprint("r", i) {
			t.Fatalf("after reply %d: written %q", i, got)
		}
	}
	if err := s.Notify(context.Background(), []byte("n")); err != nil {
		t.Fatal(err)
	}
	if got := fr.frames(); len(got) != 4 || got[3] != "n" {
		t.Fatalf("after the notification: written %q", got)
	}
}

// While a write is under way, replies queued after notifications still go
// out before them, and each kind keeps its order.
func TestRepliesOvertakeQueuedNotifications(t *testing.T) {
	fr := newGateFramer()
	fr.shut()
	s := NewObjectStream(fr)
	defer func() { s.Close(); s.Wait() }()
	first := make(chan error, 1)
	go func() { first <- s.Notify(context.Background(), []byte("n0")) }()
	if got := <-fr.entered; got != "n0" {
		t.Fatalf("first write %q", got)
	}
	for i := 1; i <= 3; i++ {
		if err := s.Notify(context.Background(), fmt.Appendf(nil, "n%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if err := s.EnqueueReply(fmt.Appendf(nil, "r%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	fr.open()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	want := []string{"n0", "r0", "r1", "n1", "n2", "n3"}
	s.FlushAndClose(WriteTimeout)
	if got := fr.frames(); !slices.Equal(got, want) {
		t.Fatalf("written %q, want %q", got, want)
	}
}

// Many goroutines replying and notifying at once: every message is written
// once, and each sender's messages keep their order.
func TestConcurrentSendersKeepTheirOrder(t *testing.T) {
	fr := newGateFramer()
	s := NewObjectStream(fr)
	const senders, each = 8, 200
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				b := fmt.Appendf(nil, "%d:%d", g, i)
				var err error
				if g%2 == 0 {
					err = s.Notify(context.Background(), b)
				} else {
					// A sender waits for room as a client's requests do, so
					// the bounded reply queue never disconnects this test.
					err = s.acquire(context.Background(), s.replyRoom)
					if err == nil {
						err = s.send(b, true, true)
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s.FlushAndClose(WriteTimeout)
	s.Wait()
	next := make([]int, senders)
	got := fr.frames()
	for _, f := range got {
		var g, i int
		if _, err := fmt.Sscanf(f, "%d:%d", &g, &i); err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
		if i != next[g] {
			t.Fatalf("sender %d: frame %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if len(got) != senders*each {
		t.Fatalf("%d frames written, want %d", len(got), senders*each)
	}
}

// A peer that does not read: once its replies fill their queue, the next
// reply disconnects it, and the write that was stuck ends too.
func TestPeerThatDoesNotReadIsDisconnected(t *testing.T) {
	fr := newGateFramer()
	fr.shut()
	s := NewObjectStream(fr)
	defer s.Wait()
	stuck := make(chan error, 1)
	go func() { stuck <- s.EnqueueReply([]byte("first")) }()
	<-fr.entered
	// The stuck reply holds one place; the rest of the queue fills up.
	for i := range replyQueue - 1 {
		if err := s.EnqueueReply(fmt.Appendf(nil, "r%d", i)); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
	if err := s.EnqueueReply([]byte("one too many")); err == nil || !strings.Contains(err.Error(), "not reading") {
		t.Fatalf("reply over the limit: %v", err)
	}
	if err := <-stuck; !errors.Is(err, ErrClosed) {
		t.Fatalf("the stuck write returned %v", err)
	}
	if err := s.EnqueueReply([]byte("late")); err == nil {
		t.Fatal("a reply after the disconnect was accepted")
	}
	if err := s.Notify(context.Background(), []byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("a notification after the disconnect: %v", err)
	}
	if got := fr.frames(); len(got) != 0 {
		t.Fatalf("written to a peer that never read: %q", got)
	}
}

// Notifications wait for room while the peer is slow, until their context
// ends.
func TestNotifyWaitsForRoom(t *testing.T) {
	fr := newGateFramer()
	fr.shut()
	s := NewObjectStream(fr)
	defer func() { s.Close(); s.Wait() }()
	go s.Notify(context.Background(), []byte("stuck"))
	<-fr.entered
	for i := range notificationQueue - 1 {
		if err := s.Notify(context.Background(), fmt.Appendf(nil, "n%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	go func() { waited <- s.Notify(ctx, []byte("waits")) }()
	cancel()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("notification over the limit: %v", err)
	}
	// Room made by the peer lets the next one through.
	fr.open()
	if err := s.Notify(context.Background(), []byte("last")); err != nil {
		t.Fatal(err)
	}
	s.FlushAndClose(WriteTimeout)
	if got := fr.frames(); len(got) != notificationQueue+1 || got[len(got)-1] != "last" {
		t.Fatalf("%d frames, last %q", len(got), got[len(got)-1])
	}
}

func TestFIFOReusesItsStorage(t *testing.T) {
	// A queue that never drains completely, as under a steady stream.
	var q fifo
	pushed, popped := 0, 0
	for round := range 1000 {
		for range round%5 + 1 {
			q.push(fmt.Appendf(nil, "%d", pushed))
			pushed++
		}
		for q.len() > 2 {
			if got := string(q.pop()); got != fmt.Sprint(popped) {
				t.Fatalf("popped %s, want %d", got, popped)
			}
			popped++
		}
	}
	if cap(q.items) > 16 {
		t.Fatalf("a queue of at most 7 items grew to %d", cap(q.items))
	}
}
