package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
)

// cheap keeps tests fast; the format and checks are the same.
var cheap = Params{Memory: 1024, Time: 1, Threads: 1}

func TestHashAndVerify(t *testing.T) {
	ctx := context.Background()
	h, err := HashPassword(ctx, "correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q", h)
	}
	if err := VerifyPassword(ctx, h, "correct horse battery"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := VerifyPassword(ctx, h, "correct horse batterY"); !errors.Is(err, errdefs.ErrIncorrectPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	h2, _ := HashPassword(ctx, "correct horse battery", cheap)
	if h2 == h {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	// A long passphrase is not truncated (bcrypt's 72-byte trap).
	long := strings.Repeat("a", 100)
	hl, _ := HashPassword(ctx, long, cheap)
	if err := VerifyPassword(ctx, hl, long+"suffix"); err == nil {
		t.Fatal("suffix after a long password accepted")
	}
}

func TestPasswordRules(t *testing.T) {
	for _, c := range []struct {
		pw   string
		want string
	}{
		{"short", "too short"},
		{"1234567", "too short"},
		{strings.Repeat("x", MaxPasswordLen+1), "too long"},
		{"bad\xffutf8 password", "UTF-8"},
	} {
		_, err := HashPassword(context.Background(), c.pw, cheap)
		if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.pw, err, c.want)
		}
	}
	if err := CheckPassword("éééééééé"); err != nil {
		t.Fatalf("8 multibyte characters: %v", err)
	}
}

func TestMalformedHashes(t *testing.T) {
	for _, h := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$a2V5", "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$a2V5", "plain"} {
		if err := VerifyPassword(context.Background(), h, "whatever1"); err == nil || errors.Is(err, errdefs.ErrIncorrectPassword) {
			t.Errorf("%q: %v", h, err)
		}
	}
}

// step is one event in a limiter scenario: "try" begins an attempt (want 0:
// admitted, else the wait the refusal carries), "wrong"/"right"/"abandon"
// ends the oldest in-flight attempt of addr, "tick" advances the clock.
type step struct {
	do   string
	addr string
	want time.Duration // for try: 0 admitted, else the retry wait
	d    time.Duration // for tick
}

func try(addr string, want time.Duration) step { return step{do: "try", addr: addr, want: want} }
func fail(addr string) step                    { return step{do: "wrong", addr: addr} }
func pass(addr string) step                    { return step{do: "right", addr: addr} }
func abandon(addr string) step                 { return step{do: "abandon", addr: addr} }
func tick(d time.Duration) step                { return step{do: "tick", d: d} }

// guess is try then fail, in turn.
func guess(addr string, n int) []step {
	var out []step
	for range n {
		out = append(out, try(addr, 0), fail(addr))
	}
	return out
}

func steps(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch v := p.(type) {
		case step:
			out = append(out, v)
		case []step:
			out = append(out, v...)
		}
	}
	return out
}

func TestLimiter(t *testing.T) {
	s := time.Second
	cases := []struct {
		name  string
		tweak func(*Limiter)
		steps []step
	}{
		{"three free failures, then a doubling delay", nil, steps(
			guess("a", 3), try("a", s), try("b", 0),
			tick(s), try("a", 0), fail("a"), try("a", 2*s),
			tick(2*s), try("a", 0), pass("a"), try("a", 0),
		)},
		{"delay capped", func(l *Limiter) { l.FreeAttempts = 1 }, steps(
			guess("c", 1), tick(s), guess("c", 1), tick(2*s), guess("c", 1), tick(4*s), guess("c", 1),
			tick(8*s), guess("c", 1), tick(16*s), guess("c", 1), tick(32*s), guess("c", 1), tick(64*s), guess("c", 1),
			tick(128*s), guess("c", 1), tick(256*s), guess("c", 1), try("c", 5*time.Minute),
		)},
		{"concurrent attempts count as failures while in flight", nil, steps(
			try("a", 0), try("a", 0), try("a", 0), try("a", s), try("a", s),
			fail("a"), try("a", s), fail("a"), fail("a"), try("a", s), // delay from the third failure
			tick(s), try("a", 0), try("a", s), // past the free ones: one at a time
		)},
		{"an abandoned attempt does not count", nil, steps(
			try("a", 0), try("a", 0), try("a", 0), abandon("a"), abandon("a"), abandon("a"),
			guess("a", 3), try("a", s),
		)},
		{"a success clears the address, even with others in flight", nil, steps(
			try("a", 0), guess("a", 1), try("a", 0), pass("a"), fail("a"), guess("a", 1), try("a", 0), // two failures since the success
			fail("a"), try("a", s),
		)},
		{"IPv6 addresses count by /64", nil, steps(
			guess("2001:db8::1", 2), guess("2001:db8::2", 1), try("2001:db8::3", s), try("2001:db8:0:1::1", 0),
		)},
		{"failing addresses share the global bucket; fresh ones are not held up by it",
			func(l *Limiter) { l.GlobalPerMinute, l.FreeAttempts, l.BaseDelay = 4, 100, time.Millisecond }, steps(
				guess("x", 1), tick(s), guess("x", 4), // the first was fresh; four from a failing address
				try("x", time.Minute), try("y", 0), pass("y"), try("owner", 0), pass("owner"),
				guess("z", 1), try("z", time.Minute), // z has failed now: the full bucket holds it
				tick(time.Minute), try("x", 0),
			)},
		{"fresh addresses together are bounded too", func(l *Limiter) { l.FreshPerMinute = 3 }, steps(
			try("p", 0), try("q", 0), try("r", 0), try("s", time.Minute), tick(time.Minute), try("s", 0),
		)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			l := NewLimiter()
			l.Now = func() time.Time { return now }
			if c.tweak != nil {
				c.tweak(l)
			}
			inFlight := map[string][]func(Outcome){}
			for i, st := range c.steps {
				switch st.do {
				case "tick":
					now = now.Add(st.d)
				case "try":
					end, err := l.Begin(st.addr)
					var got time.Duration
					if err != nil {
						var info errdefs.Info
						if !errors.Is(err, errdefs.ErrRateLimited) || !errors.As(err, &info) {
							t.Fatalf("step %d: %v is not a rate limit", i, err)
						}
						got = time.Duration(info.ErrorInfo().(RetryInfo).RetryAfterMs) * time.Millisecond
					} else {
						inFlight[st.addr] = append(inFlight[st.addr], end)
					}
					if got != st.want {
						t.Fatalf("step %d: try %s: wait %v, want %v", i, st.addr, got, st.want)
					}
				default:
					ends := inFlight[st.addr]
					if len(ends) == 0 {
						t.Fatalf("step %d: nothing in flight for %s", i, st.addr)
					}
					inFlight[st.addr] = ends[1:]
					ends[0](map[string]Outcome{"wrong": Wrong, "right": Right, "abandon": Abandoned}[st.do])
				}
			}
		})
	}
}
