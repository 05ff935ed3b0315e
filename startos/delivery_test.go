package startos

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/smtptest"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/notify"
)

// TestSMTPSettingsAndEmailedNotifications: server.set-smtp keeps the
// password out of the public document; test-smtp with the saved settings
// reaches a real SMTP server; notifications of the chosen levels are
// emailed, others not; clear-smtp stops it.
func TestSMTPSettingsAndEmailedNotifications(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := smtptest.Start(t, false, "box", "hunter2")
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Stderr: io.Discard,
		Delivery: notify.Options{RootCAs: srv.RootCAs, RetryBase: 10 * time.Millisecond, SMTPTimeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.SetName(ctx, model.SetNameParams{Name: "Attic"}); err != nil {
		t.Fatal(err)
	}
	pw := "hunter2"
	v := model.SMTPValue{Host: srv.Host, Port: srv.Port, From: "box@example.com", Username: "box", Password: &pw,
		Security: model.SMTPSecurityStartTLS, To: "owner@example.com", NotifyLevels: []model.NotificationLevel{model.NotificationWarning}}
	if _, err := s.SetSMTP(ctx, v); err != nil {
		t.Fatal(err)
	}
	_, doc := s.db.Read()
	pub, err := json.Marshal(doc.Public)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(pub), pw) {
		t.Fatal("the SMTP password is in the public document")
	}
	if sm := doc.Public.ServerInfo.SMTP; sm == nil || !sm.HasPassword || sm.Host != srv.Host || sm.To != "owner@example.com" {
		t.Fatalf("serverInfo.smtp = %+v", sm)
	}
	// A second set without a password keeps the stored one.
	v.Password = nil
	if _, err := s.SetSMTP(ctx, v); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TestSMTP(ctx, model.SMTPTestParams{}); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || !strings.Contains(string(msgs[0].Data), "Subject: [Attic] Test email") {
		t.Fatalf("test mail: %+v", msgs)
	}
	// A wrong password is reported as an SMTP error.
	bad := "nope"
	wrong := model.SMTPTestParams{Host: v.Host, Port: v.Port, From: v.From, Username: v.Username, Password: &bad, Security: v.Security, To: v.To}
	if _, err := s.TestSMTP(ctx, wrong); !errors.Is(err, errdefs.ErrSMTP) || !strings.Contains(err.Error(), "authentication refused") {
		t.Fatalf("wrong password: %v", err)
	}

	if _, err := s.CreateNotification(ctx, model.NotificationInput{Level: model.NotificationInfo, Title: "not emailed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Notify(ctx, model.NotificationInput{Level: model.NotificationWarning, Title: "Disk almost full", Message: "91% used"}); err != nil {
		t.Fatal(err)
	}
	waitStats(t, s, "the warning emailed", func(st model.DeliveryStats) bool { return st.Channel == "email" && st.Delivered == 1 })
	msgs := srv.Messages()
	if len(msgs) != 2 || !strings.Contains(string(msgs[1].Data), "Subject: [Attic] WARNING: Disk almost full") {
		t.Fatalf("messages: %d, last %q", len(msgs), msgs[len(msgs)-1].Data)
	}

	if _, err := s.ClearSMTP(ctx); err != nil {
		t.Fatal(err)
	}
	if _, doc := s.db.Read(); doc.Public.ServerInfo.SMTP != nil || doc.Private.SMTPPassword != "" {
		t.Fatal("clear-smtp left settings")
	}
	if _, err := s.TestSMTP(ctx, model.SMTPTestParams{}); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Fatalf("test-smtp with nothing saved: %v", err)
	}
}

func waitStats(t *testing.T, s *Server, what string, cond func(model.DeliveryStats) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, _ := s.DeliveryStats(context.Background())
		for _, c := range st {
			if cond(c) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebhooksThroughTheLibrary: a webhook added by the owner receives a
// notification signed with the secret shown at add; list hides the token
// and secret; a bad URL is refused; remove stops deliveries.
func TestWebhooksThroughTheLibrary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type delivery struct {
		sig, ts string
		body    []byte
	}
	got := make(chan delivery, 4)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Get(notify.SignatureHeader), r.Header.Get(notify.TimestampHeader), b}
	}))
	defer hs.Close()
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.WebhookAdd(ctx, model.WebhookAddParams{URL: "gopher://x"}); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Fatalf("bad URL: %v", err)
	}
	added, err := s.WebhookAdd(ctx, model.WebhookAddParams{URL: hs.URL + "/hook", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := s.WebhookList(ctx)
	if raw, _ := json.Marshal(list); len(list) != 1 || !list[0].HasToken || strings.Contains(string(raw), added.Secret) || strings.Contains(string(raw), "tok\"") {
		t.Fatalf("list = %s", raw)
	}
	if _, err := s.CreateNotification(ctx, model.NotificationInput{Level: model.NotificationSuccess, Title: "Backup done"}); err != nil {
		t.Fatal(err)
	}
	d := <-got
	ts, _ := strconv.ParseInt(d.ts, 10, 64)
	if d.sig != notify.Sign(added.Secret, ts, d.body) || !strings.Contains(string(d.body), `"title":"Backup done"`) {
		t.Fatalf("delivery %q %s", d.sig, d.body)
	}
	if _, err := s.WebhookTest(ctx, model.WebhookIDParams{ID: added.ID}); err != nil {
		t.Fatal(err)
	}
	<-got
	if _, err := s.WebhookRemove(ctx, model.WebhookIDParams{ID: added.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WebhookTest(ctx, model.WebhookIDParams{ID: added.ID}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("removed webhook: %v", err)
	}
}
