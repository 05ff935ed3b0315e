package auth

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
)

// Limiter slows password guessing: each client address that fails has to
// wait before its next attempt, twice as long after each further failure, up
// to MaxDelay; and all addresses together get at most GlobalPerMinute
// attempts a minute, which bounds the CPU an attacker with many addresses can
// burn on hashing. The local administrator (unix socket) is never limited:
// callers skip the limiter for it.
type Limiter struct {
	FreeAttempts    int           // failures before the first delay; the last of them starts it
	BaseDelay       time.Duration // delay after the first counted failure
	MaxDelay        time.Duration
	GlobalPerMinute int
	Forget          time.Duration // an address idle this long starts afresh
	Now             func() time.Time

	mu      sync.Mutex
	clients map[string]*clientState // guarded by mu
	window  []time.Time             // guarded by mu; global attempts in the last minute
}

type clientState struct {
	failures  int
	notBefore time.Time
	last      time.Time
}

// NewLimiter returns a Limiter with the defaults: 3 free failures, then 1 s
// doubling up to 5 minutes; 30 attempts a minute in total.
func NewLimiter() *Limiter {
	return &Limiter{
		FreeAttempts: 3, BaseDelay: time.Second, MaxDelay: 5 * time.Minute,
		GlobalPerMinute: 30, Forget: time.Hour, Now: time.Now,
		clients: map[string]*clientState{},
	}
}

// RetryInfo is the data a rate-limited answer carries.
type RetryInfo struct {
	RetryAfterMs int64 `json:"retryAfterMs"`
}

// Allow reports whether addr may try a password now; if not, the error is
// errdefs.ErrRateLimited carrying how long to wait.
func (l *Limiter) Allow(addr string) error {
	now := l.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
	if c := l.clients[addr]; c != nil && now.Before(c.notBefore) {
		return limited(c.notBefore.Sub(now))
	}
	if len(l.window) >= l.GlobalPerMinute {
		return limited(l.window[0].Add(time.Minute).Sub(now))
	}
	l.window = append(l.window, now)
	return nil
}

// Failed records a wrong password from addr.
func (l *Limiter) Failed(addr string) {
	now := l.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[addr]
	if c == nil {
		c = &clientState{}
		l.clients[addr] = c
	}
	c.failures++
	c.last = now
	if over := c.failures - l.FreeAttempts; over >= 0 {
		d := time.Duration(float64(l.BaseDelay) * math.Pow(2, float64(over)))
		if d > l.MaxDelay || d <= 0 {
			d = l.MaxDelay
		}
		c.notBefore = now.Add(d)
	}
}

// Succeeded clears addr's record.
func (l *Limiter) Succeeded(addr string) {
	l.mu.Lock()
	delete(l.clients, addr)
	l.mu.Unlock()
}

func (l *Limiter) pruneLocked(now time.Time) {
	cut := 0
	for cut < len(l.window) && now.Sub(l.window[cut]) >= time.Minute {
		cut++
	}
	l.window = l.window[cut:]
	for addr, c := range l.clients {
		if now.Sub(c.last) > l.Forget && !now.Before(c.notBefore) {
			delete(l.clients, addr)
		}
	}
}

func limited(wait time.Duration) error {
	wait = max(wait, time.Millisecond).Round(time.Millisecond)
	return errdefs.WithInfo(fmt.Errorf("too many login attempts: try again in %s: %w", wait, errdefs.ErrRateLimited),
		RetryInfo{RetryAfterMs: wait.Milliseconds()})
}
