package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/startos/model"
)

// TestDeliverySettingsThroughCLI: set-smtp by flags keeps the password out
// of the public document; a webhook added by start-cli receives its test.
func TestDeliverySettingsThroughCLI(t *testing.T) {
	d := testdaemon.Start(t, "")
	jarPath = filepath.Join(t.TempDir(), "cookies.json")
	authCookie, stdinFile = "", nil
	// The password never rides on the command line.
	if code, _, errs := cmd(t, "--socket", d.Sock, "server", "set-smtp", "--host", "smtp.example.com", "--port", "587", "--from", "box@example.com",
		"--username", "box", "--security", "starttls", "--password", "pa55word"); code != 2 || !strings.Contains(errs, "password") {
		t.Fatalf("set-smtp --password: %d %q; want a usage error", code, errs)
	}
	withStdin(t, "pa55word")
	code, out, errs := cmd(t, "--socket", d.Sock, "server", "set-smtp", "--host", "smtp.example.com", "--port", "587", "--from", "box@example.com",
		"--username", "box", "--security", "starttls", "--password-stdin", "--to", "me@example.com", "--notify-levels", "error")
	stdinFile = nil
	if code != 0 {
		t.Fatalf("set-smtp: %d %q %q", code, out, errs)
	}
	code, out, errs = cmd(t, "--socket", d.Sock, "--format", "json", "db", "dump")
	if code != 0 || strings.Contains(out, "pa55word") || !strings.Contains(out, `"hasPassword": true`) || !strings.Contains(out, "smtp.example.com") {
		t.Fatalf("db dump: %d %q %q", code, out, errs)
	}
	// Without --password-stdin the saved password is kept.
	if code, out, errs := cmd(t, "--socket", d.Sock, "server", "set-smtp", "--host", "mail.example.com", "--port", "587", "--from", "box@example.com",
		"--username", "box", "--security", "starttls"); code != 0 {
		t.Fatalf("set-smtp without a password: %d %q %q", code, out, errs)
	}
	if code, out, _ := cmd(t, "--socket", d.Sock, "--format", "json", "db", "dump"); code != 0 || !strings.Contains(out, `"hasPassword": true`) || !strings.Contains(out, "mail.example.com") {
		t.Fatalf("after set-smtp without a password: %d %q", code, out)
	}
	if code, _, errs := cmd(t, "--socket", d.Sock, "server", "set-smtp", "--host", "smtp.example.com:25", "--port", "587", "--from", "box@example.com",
		"--username", "box", "--security", "starttls"); code == 0 || !strings.Contains(errs, "without port") {
		t.Fatalf("host with a port: %d %q", code, errs)
	}

	hits := make(chan string, 2)
	hs := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { hits <- r.Header.Get("Authorization") }))
	defer hs.Close()
	code, out, errs = cmd(t, "--socket", d.Sock, "--format", "json", "server", "webhook", "add", hs.URL+"/hook", "--token", "tok")
	var added model.WebhookAdded
	if code != 0 || json.Unmarshal([]byte(out), &added) != nil || added.Secret == "" {
		t.Fatalf("webhook add: %d %q %q", code, out, errs)
	}
	if code, out, errs := cmd(t, "--socket", d.Sock, "server", "webhook", "test", added.ID); code != 0 {
		t.Fatalf("webhook test: %d %q %q", code, out, errs)
	}
	if got := <-hits; got != "Bearer tok" {
		t.Fatalf("Authorization %q", got)
	}
	if code, out, _ := cmd(t, "--socket", d.Sock, "server", "webhook", "list"); code != 0 || !strings.Contains(out, added.ID) || strings.Contains(out, added.Secret) {
		t.Fatalf("webhook list: %q", out)
	}
	if code, out, errs := cmd(t, "--socket", d.Sock, "server", "webhook", "remove", added.ID); code != 0 {
		t.Fatalf("webhook remove: %d %q %q", code, out, errs)
	}
}
