package auth

import (
	"fmt"
	"math"
	"net"
	"sync"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
)

// Limiter slows password guessing (logins, password changes, setup codes).
//
// Per client address (an IPv6 client by its /64): FreeAttempts failures, then
// a wait before the next attempt that doubles after each further failure, up
// to MaxDelay. Attempts still running count as failures until they end, so
// firing guesses in parallel gets no more than firing them in turn.
//
// Across addresses: attempts from addresses with a failure on record share
// GlobalPerMinute; addresses with a clean record share FreshPerMinute. One
// address that keeps failing therefore cannot use up the allowance of the
// owner, who arrives with a clean record; many fresh addresses are bounded by
// the larger bucket, and the CPU of every attempt by the hashing slots.
// The local administrator (unix socket) is never limited: callers skip the
// limiter for it.
type Limiter struct {
	FreeAttempts    int           // failures before the first delay; the last of them starts it
	BaseDelay       time.Duration // delay after the first counted failure
	MaxDelay        time.Duration
	GlobalPerMinute int           // attempts a minute from addresses that have failed
	FreshPerMinute  int           // attempts a minute from addresses that have not
	Forget          time.Duration // an address idle this long starts afresh
	Now             func() time.Time

	mu      sync.Mutex
	clients map[string]*clientState // guarded by mu
	suspect []time.Time             // guarded by mu; attempts in the last minute from addresses with failures
	fresh   []time.Time             // guarded by mu; attempts in the last minute from the others
}

type clientState struct {
	failures  int
	inFlight  int
	notBefore time.Time
	last      time.Time
}

// NewLimiter returns a Limiter with the defaults: 3 free failures, then 1 s
// doubling up to 5 minutes; 30 attempts a minute from failing addresses and
// 120 from fresh ones.
func NewLimiter() *Limiter {
	return &Limiter{
		FreeAttempts: 3, BaseDelay: time.Second, MaxDelay: 5 * time.Minute,
		GlobalPerMinute: 30, FreshPerMinute: 120, Forget: time.Hour, Now: time.Now,
		clients: map[string]*clientState{},
	}
}

// RetryInfo is the data a rate-limited answer carries.
type RetryInfo struct {
	RetryAfterMs int64 `json:"retryAfterMs"`
}

// Outcome is how an attempt ended.
type Outcome int

const (
	// Wrong: the secret was wrong; it counts as a failure.
	Wrong Outcome = iota
	// Right: the secret was right; the address starts afresh.
	Right
	// Abandoned: the attempt ended without a verdict (cancelled, an
	// internal error); it does not count.
	Abandoned
)

// Begin admits an attempt from addr, or refuses it with
// errdefs.ErrRateLimited carrying how long to wait. An admitted attempt is in
// flight until end is called, exactly once, with its outcome.
func (l *Limiter) Begin(addr string) (end func(Outcome), err error) {
	key := clientKey(addr)
	now := l.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
	c := l.clients[key]
	if c == nil {
		c = &clientState{}
		l.clients[key] = c
	}
	if now.Before(c.notBefore) {
		return nil, limited(c.notBefore.Sub(now))
	}
	if c.inFlight > 0 && c.failures+c.inFlight >= l.FreeAttempts {
		// The attempts running may all fail: wait for their verdict.
		return nil, limited(l.BaseDelay)
	}
	bucket, size := &l.fresh, l.FreshPerMinute
	if c.failures > 0 {
		bucket, size = &l.suspect, l.GlobalPerMinute
	}
	if len(*bucket) >= size {
		return nil, limited((*bucket)[0].Add(time.Minute).Sub(now))
	}
	*bucket = append(*bucket, now)
	c.inFlight++
	c.last = now
	var once sync.Once
	return func(o Outcome) { once.Do(func() { l.end(key, o) }) }, nil
}

func (l *Limiter) end(key string, o Outcome) {
	now := l.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[key]
	if c == nil {
		return
	}
	c.inFlight--
	c.last = now
	switch o {
	case Right:
		c.failures, c.notBefore = 0, time.Time{}
	case Wrong:
		c.failures++
		if over := c.failures - l.FreeAttempts; over >= 0 {
			d := time.Duration(float64(l.BaseDelay) * math.Pow(2, float64(over)))
			if d > l.MaxDelay || d <= 0 {
				d = l.MaxDelay
			}
			c.notBefore = now.Add(d)
		}
	}
}

func (l *Limiter) pruneLocked(now time.Time) {
	for _, w := range []*[]time.Time{&l.suspect, &l.fresh} {
		cut := 0
		for cut < len(*w) && now.Sub((*w)[cut]) >= time.Minute {
			cut++
		}
		*w = (*w)[cut:]
	}
	for addr, c := range l.clients {
		if c.inFlight == 0 && (c.failures == 0 || now.Sub(c.last) > l.Forget) && !now.Before(c.notBefore) {
			delete(l.clients, addr)
		}
	}
}

// clientKey is the unit of the per-address limit: an IPv4 address, or an
// IPv6 address's /64, which one client usually holds whole.
func clientKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

func limited(wait time.Duration) error {
	wait = max(wait, time.Millisecond).Round(time.Millisecond)
	return errdefs.WithInfo(fmt.Errorf("too many login attempts: try again in %s: %w", wait, errdefs.ErrRateLimited),
		RetryInfo{RetryAfterMs: wait.Milliseconds()})
}
