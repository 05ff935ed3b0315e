package rpc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// An HTTP call carries the local cookie and the jar's cookies, stores the
// cookies the daemon sets, and leaves the headers it shares between calls
// as they were.
func TestHTTPCallCookies(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen = append(seen, r.Header.Get("Cookie"))
		mu.Unlock()
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		}
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "s1", Path: "/"})
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":"ok"}`)
	}))
	defer hs.Close()
	jar, _ := cookiejar.New(nil)
	c, err := Dial(context.Background(), hs.URL, ClientOptions{HTTPClient: &http.Client{Jar: jar}, LocalCookie: "L"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2 {
		var out string
		if err := c.Call(context.Background(), "echo", nil, &out); err != nil || out != "ok" {
			t.Fatalf("call: %q, %v", out, err)
		}
	}
	want := []string{"local=L", "local=L; session=s1"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Fatalf("cookies sent %q, want %q", seen, want)
	}
	if got := c.postHeader.Values("Cookie"); len(got) != 1 || got[0] != "local=L" {
		t.Fatalf("shared headers changed: %q", got)
	}
}

// The timeout of the caller's http.Client bounds an HTTP call, as Do would.
func TestHTTPCallHonoursTheClientTimeout(t *testing.T) {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer hs.Close()
	defer close(release)
	c, err := Dial(context.Background(), hs.URL, ClientOptions{HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(context.Background(), "echo", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to a daemon that does not answer: %v", err)
	}
}
