package retry

import (
	"context"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestBackoffNext(t *testing.T) {
	for _, tc := range []struct {
		name       string
		first, max time.Duration
		want       []time.Duration
	}{
		{"doubles to the ceiling", 100 * ms, 500 * ms, []time.Duration{100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms}},
		{"ceiling is a power of two", 250 * ms, time.Second, []time.Duration{250 * ms, 500 * ms, time.Second, time.Second}},
		{"first above the ceiling", 5 * time.Second, time.Second, []time.Duration{time.Second, time.Second}},
		{"first equals the ceiling", time.Second, time.Second, []time.Duration{time.Second, time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Backoff{First: tc.first, Max: tc.max}
			for i, w := range tc.want {
				if got := b.Next(); got != w {
					t.Fatalf("Next #%d = %s, want %s", i, got, w)
				}
			}
			b.Reset()
			if got := b.Next(); got != min(tc.first, tc.max) {
				t.Fatalf("Next after Reset = %s, want %s", got, min(tc.first, tc.max))
			}
		})
	}
}

func TestBackoffNextAtMost(t *testing.T) {
	b := Backoff{First: time.Second, Max: time.Minute}
	for i, tc := range []struct {
		limit, want time.Duration
	}{
		{10 * time.Second, time.Second},
		{10 * time.Second, 2 * time.Second},
		{3 * time.Second, 3 * time.Second}, // capped for this step
		{time.Minute, 6 * time.Second},     // and doubling resumes from the cap
		{time.Hour, 12 * time.Second},      // the Max still holds
	} {
		if got := b.NextAtMost(tc.limit); got != tc.want {
			t.Fatalf("step %d: NextAtMost(%s) = %s, want %s", i, tc.limit, got, tc.want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{First: 250 * ms, Max: 10 * time.Second}
	for n, w := range []time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := b.Delay(n); got != w {
			t.Errorf("Delay(%d) = %s, want %s", n, got, w)
		}
	}
	if got := b.Delay(1 << 30); got != 10*time.Second {
		t.Errorf("a large attempt: %s", got)
	}
	b.Next()
	b.Next()
	if got := b.Delay(0); got != 250*ms {
		t.Errorf("Delay depends on earlier Next calls: %s", got)
	}
}

func TestBackoffSleep(t *testing.T) {
	b := Backoff{First: ms, Max: ms}
	if !b.Sleep(context.Background()) {
		t.Fatal("Sleep with a live context reported an early end")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b = Backoff{First: time.Hour, Max: time.Hour}
	if b.Sleep(ctx) {
		t.Fatal("Sleep with an ended context reported the delay passed")
	}
}
