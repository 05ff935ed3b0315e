package logbench

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// A small run prints every figure in the agreed format.
func TestRunPrintsEveryFigure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out, config{calls: 30_000, fillLines: 120_000}); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, re := range []string{
		`(?m)^logging  call latency healthy  p50=[\d.]+µs p99=[\d.]+µs p99\.9=[\d.]+µs max=[\d.]+µs n=30000$`,
		`(?m)^logging  call latency wedged   p50=[\d.]+µs p99=[\d.]+µs p99\.9=[\d.]+µs max=[\d.]+µs n=30000$`,
		`(?m)^logging  sinks wedged   stderr: .* degraded=true`,
		`(?m)^logging  memory at cap  heapInuse=-?[\d.]+MiB heapAlloc=-?[\d.]+MiB budget=8\.00MiB`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output lacks %s", re)
		}
	}
}

func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out strings.Builder
	if err := Run(ctx, &out); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context = %v, want context.Canceled", err)
	}
}
