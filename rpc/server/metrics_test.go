package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// TestServerMetrics: the call is answered from the background sample, and
// the follow stream delivers a new sample after the first.
func TestServerMetrics(t *testing.T) {
	ts := startServer(t, newBackend(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+ts.sock, ts.opts())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var m model.Metrics
	for {
		err := c.Call(ctx, "server.metrics", nil, &m)
		var re *rpc.Error
		if err == nil {
			break
		}
		if !errors.As(err, &re) || re.Code != rpc.CodeUnavailable || ctx.Err() != nil {
			t.Fatalf("server.metrics: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	total, err := m.Memory.Total.Float()
	if err != nil || total <= 0 || m.Memory.Total.Unit != model.UnitMebibyte || m.CPU.Idle.Unit != model.UnitPercent || m.SampledAt.IsZero() {
		t.Fatalf("metrics = %+v", m)
	}
	sub, err := c.Subscribe(ctx, "server.metrics.follow", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.Next(ctx); err != nil {
		t.Fatalf("no sample followed within the default 4 s interval: %v", err)
	}
}
