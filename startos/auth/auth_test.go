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

func TestLimiterGrowingDelayPerAddress(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter()
	l.Now = func() time.Time { return now }
	for i := range 3 {
		if err := l.Allow("a"); err != nil {
			t.Fatalf("free attempt %d refused: %v", i, err)
		}
		l.Failed("a")
	}
	err := l.Allow("a")
	var info errdefs.Info
	if !errors.Is(err, errdefs.ErrRateLimited) || !errors.As(err, &info) || info.ErrorInfo().(RetryInfo).RetryAfterMs != 1000 {
		t.Fatalf("after 3 failures: %v", err)
	}
	if err := l.Allow("b"); err != nil {
		t.Fatalf("another address is limited: %v", err)
	}
	now = now.Add(time.Second)
	if err := l.Allow("a"); err != nil {
		t.Fatalf("after the delay: %v", err)
	}
	l.Failed("a")
	if err := l.Allow("a"); !errors.As(err, &info) || info.ErrorInfo().(RetryInfo).RetryAfterMs != 2000 {
		t.Fatalf("delay did not double: %v", err)
	}
	now = now.Add(2 * time.Second)
	l.Succeeded("a")
	if err := l.Allow("a"); err != nil {
		t.Fatalf("after success: %v", err)
	}
	for range 40 {
		l.Failed("c")
	}
	if err := l.Allow("c"); !errors.As(err, &info) || info.ErrorInfo().(RetryInfo).RetryAfterMs != l.MaxDelay.Milliseconds() {
		t.Fatalf("delay not capped: %v", err)
	}
}

func TestLimiterGlobalCeiling(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter()
	l.Now = func() time.Time { return now }
	for i := range l.GlobalPerMinute {
		if err := l.Allow(string(rune('A' + i))); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if err := l.Allow("fresh"); !errors.Is(err, errdefs.ErrRateLimited) {
		t.Fatalf("over the global ceiling: %v", err)
	}
	now = now.Add(time.Minute)
	if err := l.Allow("fresh"); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
}
