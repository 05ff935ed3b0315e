package server

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/model"
)

// serveSocket serves srv on a new unix socket until the test ends, and
// returns the socket's path.
func serveSocket(t *testing.T, srv *Server) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "rpc.sock")
	l, err := ListenSocket(sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeSocket(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	})
	return sock
}

// One connection pipelines twice as many calls as it may run at once: at
// most maxInFlight run together, on the connection's workers, and every
// call is answered once they are let go.
func TestStreamConnectionRunsAtMostMaxInFlightCalls(t *testing.T) {
	b := newBackend(t)
	var running, peak atomic.Int32
	gate, full := make(chan struct{}), make(chan struct{})
	var fullOnce sync.Once
	hold := func(ctx context.Context, p model.EchoParams) (string, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		if n == maxInFlight {
			fullOnce.Do(func() { close(full) })
		}
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return p.Message, nil
	}
	c := dialUnix(t, serveSocket(t, New(b.Server, Options{Methods: []*Method{echoWith(hold)}})))
	defer c.close()
	const calls = 2 * maxInFlight
	for i := range calls {
		c.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"echo","params":{"message":"m%d"}}`, i, i))
	}
	select {
	case <-full:
	case <-time.After(10 * time.Second):
		t.Fatalf("only %d calls ran at once", running.Load())
	}
	close(gate)
	answered := map[int]bool{}
	for range calls {
		var r struct {
			ID     int    `json:"id"`
			Result string `json:"result"`
		}
		line := c.recv(t)
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Result != fmt.Sprint("m", r.ID) || answered[r.ID] {
			t.Fatalf("answer %s: %v", line, err)
		}
		answered[r.ID] = true
	}
	if p := peak.Load(); p != maxInFlight {
		t.Fatalf("%d calls ran at once, want %d", p, maxInFlight)
	}
}

// A quick method runs on the connection's read loop: the table marks as
// quick only plain reads (no mutation, no stream), and quick calls are
// answered one after another on the one slot left while every other call
// holds a worker.
func TestQuickCallRunsBesideBusyWorkers(t *testing.T) {
	quickOnes := 0
	for _, m := range Table {
		if m.quick {
			quickOnes++
			if m.Mutates || m.Streaming() {
				t.Errorf("%s is quick but mutates or streams: it would hold up its connection's reads", m.Name)
			}
		}
	}
	if !tableSet["package.list"].quick || quickOnes == 0 {
		t.Fatal("package.list is not quick")
	}

	b := newBackend(t)
	gate, held := make(chan struct{}), make(chan struct{}, maxInFlight)
	hold := func(ctx context.Context, p model.EchoParams) (string, error) {
		held <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return p.Message, nil
	}
	c := dialUnix(t, serveSocket(t, New(b.Server, Options{Methods: []*Method{echoWith(hold)}})))
	defer c.close()
	for i := range maxInFlight - 1 {
		c.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"echo","params":{"message":"m%d"}}`, i, i))
	}
	for range maxInFlight - 1 {
		<-held
	}
	// The last free slot serves quick call after quick call: each gives its
	// slot back (one kept would leave none, and the second would wait).
	for i := range 3 {
		c.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":"list%d","method":"package.list"}`, i))
		var r struct {
			ID     string          `json:"id"`
			Result json.RawMessage `json:"result"`
		}
		if line := c.recv(t); json.Unmarshal([]byte(line), &r) != nil || r.ID != fmt.Sprint("list", i) || string(r.Result) != "[]" {
			t.Fatalf("answer %d while %d calls are held: %s", i, maxInFlight-1, line)
		}
	}
	close(gate)
	for range maxInFlight - 1 {
		c.recv(t)
	}
}
