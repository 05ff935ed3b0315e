package notify

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/smtptest"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

func strp(s string) *string { return &s }

func TestCheckSMTP(t *testing.T) {
	good := model.SMTPValue{Host: "smtp.example.com", Port: 587, From: "box@example.com", Username: "box", Security: "starttls"}
	for _, tc := range []struct {
		name string
		edit func(v *model.SMTPValue)
		want string // "" = accepted
	}{
		{"good", func(*model.SMTPValue) {}, ""},
		{"ip host", func(v *model.SMTPValue) { v.Host = "127.0.0.1" }, ""},
		{"empty host", func(v *model.SMTPValue) { v.Host = "" }, "host: empty"},
		{"host with port", func(v *model.SMTPValue) { v.Host = "smtp.example.com:25" }, "without port"},
		{"host with scheme", func(v *model.SMTPValue) { v.Host = "smtp://x" }, "without port or scheme"},
		{"host with newline", func(v *model.SMTPValue) { v.Host = "a\r\nRCPT TO:<x@y>" }, "smtp host"},
		{"unicode host", func(v *model.SMTPValue) { v.Host = "smtp.exämple.com" }, "not a host name"},
		{"port 0", func(v *model.SMTPValue) { v.Port = 0 }, "port"},
		{"security", func(v *model.SMTPValue) { v.Security = "none" }, `security "none"`},
		{"from with name", func(v *model.SMTPValue) { v.From = "Box <box@example.com>" }, "bare email address"},
		{"from injection", func(v *model.SMTPValue) { v.From = "box@example.com\r\nBcc: x@y" }, "not one email address"},
		{"to two", func(v *model.SMTPValue) { v.To = "a@b.c, d@e.f" }, "smtp to"},
		{"password newline", func(v *model.SMTPValue) { v.Password = strp("a\nb") }, "password"},
		{"level", func(v *model.SMTPValue) { v.NotifyLevels = []model.NotificationLevel{"panic"} }, `level "panic"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := good
			tc.edit(&v)
			err := CheckSMTP(v)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestSendThroughRealSMTP: STARTTLS and TLS to a real SMTP server on
// loopback, authenticated; the message arrives with its headers and body.
func TestSendThroughRealSMTP(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		sec := model.SMTPSecurityStartTLS
		if implicit {
			sec = model.SMTPSecurityTLS
		}
		t.Run(sec, func(t *testing.T) {
			srv := smtptest.Start(t, implicit, "box", "s3cret")
			m := Mail{Host: srv.Host, Port: srv.Port, From: "box@example.com", To: "owner@example.com", Username: "box",
				Password: "s3cret", Security: sec, Subject: "Disk almost füll", Body: "line one\n.\nline three", RootCAs: srv.RootCAs, Timeout: 10 * time.Second}
			if err := Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages", len(msgs))
			}
			got := msgs[0]
			data := string(got.Data)
			if got.From != m.From || got.To != m.To || got.User != "box" {
				t.Errorf("envelope %+v", got)
			}
			for _, want := range []string{"From: box@example.com\r\n", "To: owner@example.com\r\n", "Subject: =?utf-8?q?Disk_almost_f=C3=BCll?=\r\n",
				"\r\n\r\nline one\r\n.\r\nline three\r\n"} {
				if !strings.Contains(data, want) {
					t.Errorf("message lacks %q:\n%s", want, data)
				}
			}
			// Refused credentials and an untrusted certificate are errors
			// that say so.
			bad := m
			bad.Password = "wrong"
			if err := Send(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "authentication refused") {
				t.Errorf("wrong password: %v", err)
			}
			bad = m
			bad.RootCAs = nil
			if err := Send(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("untrusted certificate: %v", err)
			}
			if len(srv.Messages()) != 1 {
				t.Errorf("a refused send delivered a message")
			}
		})
	}
}

// TestSendToAHangingServer: a server that accepts and never greets is cut
// off by the deadline.
func TestSendToAHangingServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent, until the listener closes
		}
	}()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	done := make(chan error, 1)
	go func() {
		done <- Send(context.Background(), Mail{Host: "127.0.0.1", Port: port, From: "a@b.c", To: "d@e.f", Security: model.SMTPSecurityStartTLS, Timeout: 300 * time.Millisecond})
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "greeting") {
			t.Fatalf("err = %v, want a greeting timeout", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Send ignored its deadline")
	}
}

// TestDispatcherEmailsChosenLevels: only the chosen levels are emailed; a
// flood never blocks the caller, and what does not fit is counted.
func TestDispatcherEmailsChosenLevels(t *testing.T) {
	srv := smtptest.Start(t, false, "box", "pw")
	target := &EmailTarget{Host: srv.Host, Port: srv.Port, From: "box@example.com", To: "owner@example.com", Username: "box", Password: "pw",
		Security: model.SMTPSecurityStartTLS, Levels: []model.NotificationLevel{model.NotificationError}}
	d := New(Options{QueueSize: 4, RootCAs: srv.RootCAs, RetryBase: 10 * time.Millisecond,
		Settings: func() Settings { return Settings{Box: "mybox", Email: target} }})
	defer d.Close()
	d.Raise(model.Notification{ID: 1, Level: model.NotificationInfo, Title: "ignored"})
	d.Raise(model.Notification{ID: 2, Level: model.NotificationError, Title: "Service crashed", Message: "app exited 3 times", PackageID: "app"})
	waitFor(t, "one delivery", func() bool { return d.Stats()[0].Delivered == 1 })
	msgs := srv.Messages()
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Data), "Subject: [mybox] ERROR: Service crashed") || !strings.Contains(string(msgs[0].Data), "Service: app") {
		t.Fatalf("messages: %+v", msgs)
	}
	start := time.Now()
	for i := 0; i < 10000; i++ {
		d.Raise(model.Notification{ID: uint32(10 + i), Level: model.NotificationError, Title: "flood"})
	}
	if st := d.Stats()[0]; st.Dropped == 0 {
		t.Fatalf("a flood of 10000 into a queue of 4 dropped nothing: %+v", st)
	}
	t.Logf("10000 raises took %v", time.Since(start))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
