package notify

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

func TestCheckWebhookURL(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://ntfy.example.com/topic", ""},
		{"http://127.0.0.1:8080/hook", ""},
		{"ftp://example.com/x", "scheme must be http or https"},
		{"file:///etc/passwd", "scheme must be http or https"},
		{"/relative", "scheme must be http or https"},
		{"https://user:pw@example.com/", "credentials in the URL"},
		{"https://example.com/#frag", "fragment"},
		{"https:///nohost", "no host"},
		{"https://example.com/\r\nX: y", "control characters"},
		{"http://example.com:99999/", "bad port"},
	} {
		_, err := CheckWebhookURL(tc.url)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.url, err)
			}
			continue
		}
		if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want one naming %q", tc.url, err, tc.want)
		}
	}
}

// TestWebhookDelivery: the JSON body is signed with the secret and carries
// the bearer token; a server that answers 500 twice gets the notification
// on the third try; levels filter.
func TestWebhookDelivery(t *testing.T) {
	var calls atomic.Int32
	got := make(chan WebhookPayload, 4)
	var bad atomic.Value
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(TimestampHeader), 10, 64)
		if r.Header.Get(SignatureHeader) != Sign("sekrit", ts, body) || r.Header.Get("Authorization") != "Bearer tok" || r.Method != http.MethodPost {
			bad.Store("bad signature, token or method: " + r.Header.Get(SignatureHeader))
		}
		if calls.Add(1) <= 2 {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		var p WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			bad.Store(err.Error())
		}
		got <- p
	}))
	defer hs.Close()
	hook := Webhook{ID: "w1", URL: hs.URL + "/hook", Token: "tok", Secret: "sekrit", Levels: []model.NotificationLevel{model.NotificationError}}
	d := New(Options{RetryBase: 10 * time.Millisecond, Settings: func() Settings { return Settings{Box: "attic", Webhooks: []Webhook{hook}} }})
	defer d.Close()
	d.Raise(model.Notification{ID: 1, Level: model.NotificationInfo, Title: "filtered"})
	d.Raise(model.Notification{ID: 2, Level: model.NotificationError, Title: "Crash loop", Message: "app restarted 5 times", PackageID: "app"})
	p := <-got
	if p.Title != "Crash loop" || p.Box != "attic" || p.Priority != 5 || p.PackageID != "app" || p.ID != 2 {
		t.Fatalf("payload %+v", p)
	}
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	waitFor(t, "delivered", func() bool { return d.Stats()[1].Delivered == 1 })
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d calls, want 3 (two 500s, then success)", n)
	}
}

// TestWebhookHostileServers: a redirect to another host is not followed, a
// server that never answers is cut off by the deadline, and each is given
// up after the bounded retries.
func TestWebhookHostileServers(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// 127.0.0.1 and localhost are different hosts to the client.
		http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1), http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer silent.Close()
	defer close(release)
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < 1<<10; i++ { // 64 MiB, of which 64 KiB are read
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer huge.Close()

	d := New(Options{RetryBase: 5 * time.Millisecond, Attempts: 2, WebhookTimeout: 300 * time.Millisecond})
	defer d.Close()
	n := model.Notification{ID: 1, Level: model.NotificationError, Title: "x"}
	for _, tc := range []struct{ name, url, want string }{
		{"redirect", redirect.URL, "redirect to another host"},
		{"silent", silent.URL, "timeout"},
	} {
		err := d.Test(t.Context(), Webhook{ID: tc.name, URL: tc.url}, "box", n)
		// The deadline shows as the transport's header timeout or the
		// request context's, whichever fires first.
		if err == nil || !strings.Contains(err.Error(), tc.want) && !(tc.want == "timeout" && strings.Contains(err.Error(), "deadline exceeded")) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
		if strings.Contains(err.Error(), tc.url) {
			t.Errorf("%s: the error shows the URL: %v", tc.name, err)
		}
	}
	if elsewhere.Load() != 0 {
		t.Error("the redirect to another host was followed")
	}
	if err := d.Test(t.Context(), Webhook{ID: "huge", URL: huge.URL}, "box", n); err != nil {
		t.Errorf("a long answer: %v", err)
	}
	// Through the queue: given up after 2 attempts.
	d.opts.Settings = func() Settings { return Settings{Webhooks: []Webhook{{ID: "silent", URL: silent.URL}}} }
	d.Raise(n)
	waitFor(t, "given up", func() bool { return d.Stats()[1].Failed == 1 })
}
