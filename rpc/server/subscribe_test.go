package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

// TestSubscriptionLifecycle follows the daemon's log over both stream
// transports: initial value, items in order, unsubscribe with rpc.end.
func TestSubscriptionLifecycle(t *testing.T) {
	b := newBackend(t)
	ts := startServer(t, b)
	for _, target := range []string{ts.wsURL, "unix://" + ts.sock} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := rpc.Dial(ctx, target, ts.opts())
		if err != nil {
			t.Fatal(err)
		}
		sub, err := c.Subscribe(ctx, "server.logs.follow", model.LogsParams{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		var page model.LogPage
		if err := json.Unmarshal(sub.Value, &page); err != nil || len(page.Entries) > 1 {
			t.Fatalf("initial value %s: %v", sub.Value, err)
		}
		for i := range 20 {
			b.Logger().Info("tick", "n", i)
		}
		for i := range 20 {
			raw, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("%s: item %d: %v", target, i, err)
			}
			var e model.LogEntry
			if err := json.Unmarshal(raw, &e); err != nil || !strings.Contains(e.Message, fmt.Sprintf("n=%d", i)) {
				t.Fatalf("%s: item %d = %s", target, i, raw)
			}
		}
		if err := sub.Close(); err != nil {
			t.Fatalf("unsubscribe: %v", err)
		}
		if _, err := sub.Next(ctx); !errors.Is(err, feed.ErrClosed) {
			t.Fatalf("after close: %v", err)
		}
		// The connection still serves calls.
		var got string
		if err := c.Call(ctx, "echo", model.EchoParams{Message: "ok"}, &got); err != nil || got != "ok" {
			t.Fatalf("echo after unsubscribe: %q %v", got, err)
		}
		c.Close()
		cancel()
	}
}

// TestSlowSubscriberIsToldAndDropped: a peer that stops reading while the
// source keeps producing gets rpc.end "fell behind" for that subscription,
// and its connection keeps working.
func TestSlowSubscriberIsToldAndDropped(t *testing.T) {
	b := newBackend(t)
	ts := startServer(t, b)
	c := dialUnix(t, ts.sock)
	defer c.close()
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"server.logs.follow","params":{"limit":1}}`)
	var reply struct {
		Result rpc.StreamResult[json.RawMessage] `json:"result"`
	}
	if err := json.Unmarshal([]byte(c.recv(t)), &reply); err != nil || reply.Result.Subscription == "" {
		t.Fatalf("subscribe reply: %v", err)
	}
	// Produce far more than every queue on the way can hold, without reading.
	for i := range 20000 {
		b.Logger().Info("flood", "n", i, "pad", strings.Repeat("p", 100))
	}
	deadline := time.Now().Add(8 * time.Second)
	items := 0
	for time.Now().Before(deadline) {
		line := c.recv(t)
		if strings.Contains(line, `"method":"rpc.end"`) {
			var end struct {
				Params rpc.EndParams `json:"params"`
			}
			json.Unmarshal([]byte(line), &end)
			if end.Params.Reason != "fell behind" || end.Params.Subscription != reply.Result.Subscription {
				t.Fatalf("end = %+v", end.Params)
			}
			if items >= 20000 {
				t.Fatalf("received all %d items, so nothing fell behind", items)
			}
			c.send(t, echoOK)
			for {
				if got := c.recv(t); strings.Contains(got, `"id":99`) {
					if !sameJSON(t, got, echoOKReply) {
						t.Fatalf("echo after fell behind: %s", got)
					}
					return
				}
			}
		}
		items++
	}
	t.Fatal("no rpc.end notification")
}
