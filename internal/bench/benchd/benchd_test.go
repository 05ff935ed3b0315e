package benchd

import (
	"os"
	"testing"
)

// The /proc readers on this very process: it has used CPU and holds memory.
func TestProcReaders(t *testing.T) {
	for i := 0; i < 1e7; i++ { // burn a tick's worth of CPU at least
		_ = i * i
	}
	if n, err := CPUTicks(os.Getpid()); err != nil || n < 0 {
		t.Fatalf("CPUTicks = %d, %v", n, err)
	}
	rss, err := RSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("RSS = %d, %v; want at least 1 MiB", rss, err)
	}
	if peak, err := RSSPeak(os.Getpid()); err != nil || peak < rss {
		t.Fatalf("RSSPeak = %d, %v; want at least RSS %d", peak, err, rss)
	}
	if _, err := RSS(-1); err == nil {
		t.Fatal("RSS of no process succeeded")
	}
}
