package watchbench

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A shrunken run: every fault class is detected, none before its threshold,
// and the report has its lines. The full run is `just bench`.
func TestRunSmall(t *testing.T) {
	p := params{tick: 20 * time.Millisecond, miss: 100 * time.Millisecond, megamiss: 200 * time.Millisecond, kill: time.Minute,
		injections: 8, spacing: 60 * time.Millisecond, idle: 300 * time.Millisecond, touch: 10 * time.Millisecond}
	var out bytes.Buffer
	if err := run(context.Background(), &out, p); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"without watchdog", "with watchdog", "watchdog share", "detection latency", "mutex", "heartbeat", "pool", "probe"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	m := regexp.MustCompile(`8 injections.*: n=8 min (\S+) p50 (\S+) p99 (\S+) max (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no overall latency line")
	}
	lo, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	// A stall cannot be seen before megamiss minus a tick and a touch period.
	if floor := p.megamiss - p.tick - p.touch; lo < floor {
		t.Fatalf("fastest detection %s is below the %s floor: a dump came before its threshold", lo, floor)
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := run(ctx, new(bytes.Buffer), defaultParams()); err != context.Canceled {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
