package watchdog

import "time"

// Clock is the watchdog's source of time. Tests inject a fake one to drive the
// thresholds deterministically; everything else uses the real clock, whose
// readings carry Go's monotonic time.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks on C like a time.Ticker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// RealClock is the wall and monotonic clock of the process.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }
