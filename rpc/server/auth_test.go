package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

const ownerPassword = "correct horse battery staple"

// fromAddr returns client options for an unauthenticated HTTP client whose
// connections come from the loopback address ip (127.0.0.x), with a jar.
func fromAddr(ip string) rpc.ClientOptions {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return rpc.ClientOptions{HTTPClient: &http.Client{Jar: jar, Transport: &http.Transport{DialContext: d.DialContext}}}
}

func setup(t *testing.T, ts *testServer) {
	t.Helper()
	admin, _ := rpc.Dial(context.Background(), ts.httpURL, ts.opts())
	defer admin.Close()
	if err := admin.Call(context.Background(), "setup.execute", model.SetupParams{Password: ownerPassword}, nil); err != nil {
		t.Fatal(err)
	}
}

func code(err error) int {
	var e *rpc.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// login returns a client holding a session cookie, and the session id.
func login(t *testing.T, ts *testServer, opts rpc.ClientOptions, ephemeral bool) (*rpc.Client, string) {
	t.Helper()
	ctx := context.Background()
	c, err := rpc.Dial(ctx, ts.httpURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "auth.login", model.LoginParams{Password: ownerPassword, Ephemeral: ephemeral}, nil); err != nil {
		t.Fatalf("login: %v", err)
	}
	var list model.SessionList
	if err := c.Call(ctx, "auth.session.list", nil, &list); err != nil || list.Current == "" {
		t.Fatalf("session list: %+v %v", list, err)
	}
	return c, list.Current
}

// TestEveryAuthenticatedMethodRefusesStrangers walks the whole table, so
// methods added later are covered: without credentials, with a forged
// session cookie and with a killed session, each answers 34 and changes
// nothing.
func TestEveryAuthenticatedMethodRefusesStrangers(t *testing.T) {
	ts := startServer(t, newBackend(t))
	setup(t, ts)
	killed, killedID := login(t, ts, fromAddr("127.0.0.3"), false)
	admin, _ := rpc.Dial(context.Background(), ts.httpURL, ts.opts())
	defer admin.Close()
	if err := admin.Call(context.Background(), "auth.session.kill", model.SessionKillParams{IDs: []string{killedID}}, nil); err != nil {
		t.Fatal(err)
	}
	forged := fromAddr("127.0.0.4")
	u := mustURL(t, ts.httpURL)
	forged.HTTPClient.Jar.SetCookies(u, []*http.Cookie{{Name: rpc.SessionCookie, Value: "aaaaaaaaaaaaaaaaaaaaaaaaaa"}})
	forgedClient, _ := rpc.Dial(context.Background(), ts.httpURL, forged)
	nobody, _ := rpc.Dial(context.Background(), ts.httpURL, fromAddr("127.0.0.5"))

	before := revision(t, admin)
	checked := 0
	for _, m := range Table {
		if m.Public {
			continue
		}
		for name, c := range map[string]*rpc.Client{"no credentials": nobody, "forged cookie": forgedClient, "killed session": killed} {
			err := c.Call(context.Background(), m.Name, json.RawMessage(`{}`), nil)
			if code(err) != rpc.CodeUnauthorized {
				t.Errorf("%s with %s: %v, want code 34", m.Name, name, err)
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d authenticated methods checked", checked)
	}
	if after := revision(t, admin); after != before {
		t.Fatalf("refused calls changed the state: revision %d -> %d", before, after)
	}
	// A WebSocket upgrade needs credentials too.
	resp, err := http.Get(ts.httpURL + "/ws/rpc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous upgrade: %d", resp.StatusCode)
	}
}

func revision(t *testing.T, c *rpc.Client) uint64 {
	t.Helper()
	var d model.Dump
	if err := c.Call(context.Background(), "db.dump", model.DumpParams{}, &d); err != nil {
		t.Fatal(err)
	}
	return d.ID
}

func mustURL(t *testing.T, s string) *urlType {
	t.Helper()
	u, err := parseURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSetupOnceAndLoginFlow(t *testing.T) {
	ts := startServer(t, newBackend(t))
	ctx := context.Background()
	anon, _ := rpc.Dial(ctx, ts.httpURL, fromAddr("127.0.0.6"))
	var st model.SetupStatus
	if err := anon.Call(ctx, "setup.status", nil, &st); err != nil || st.Status != model.SetupIncomplete {
		t.Fatalf("status before setup: %+v %v", st, err)
	}
	if err := anon.Call(ctx, "auth.login", model.LoginParams{Password: ownerPassword}, nil); code(err) != rpc.CodeInvalidRequestApp {
		t.Fatalf("login before setup: %v", err)
	}
	if err := anon.Call(ctx, "setup.execute", model.SetupParams{Password: "short"}, nil); code(err) != rpc.CodeInvalidRequestApp || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("short password: %v", err)
	}
	if err := anon.Call(ctx, "setup.execute", model.SetupParams{Password: ownerPassword, Name: "My Box"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := anon.Call(ctx, "setup.execute", model.SetupParams{Password: "another password"}, nil); code(err) != rpc.CodeDuplicate {
		t.Fatalf("second setup: %v, want 53", err)
	}
	anon.Call(ctx, "setup.status", nil, &st)
	if st.Status != model.SetupComplete {
		t.Fatalf("status after setup: %+v", st)
	}

	// Login: the cookie's flags, then calls under the session.
	body := `{"id":1,"method":"auth.login","params":{"password":"` + ownerPassword + `"}}`
	req, _ := http.NewRequest(http.MethodPost, ts.httpURL+"/rpc/v1", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	set := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"session=", "Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=2592000"} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %q", set, want)
		}
	}
	if strings.Contains(set, "Secure") {
		t.Errorf("Secure cookie over plain HTTP: %q", set)
	}
	eph, _ := login(t, ts, fromAddr("127.0.0.7"), true)
	c, id := login(t, ts, fromAddr("127.0.0.8"), false)
	var list model.SessionList
	c.Call(ctx, "auth.session.list", nil, &list)
	if list.Current != id || len(list.Sessions) != 3 {
		t.Fatalf("sessions = %+v", list)
	}
	var ephCount int
	for _, s := range list.Sessions {
		if s.Ephemeral {
			ephCount++
		}
	}
	if ephCount != 1 {
		t.Fatalf("ephemeral sessions = %d", ephCount)
	}
	if err := c.Call(ctx, "auth.logout", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "server.time", nil, nil); code(err) != rpc.CodeUnauthorized {
		t.Fatalf("after logout: %v", err)
	}
	if err := eph.Call(ctx, "server.time", nil, nil); err != nil {
		t.Fatalf("other session after logout: %v", err)
	}
}

// TestBruteForceIsSlowedPerAddress: one address guessing is slowed and
// refused with 37; another address and the unix socket still work; the right
// password after the delay works.
func TestBruteForceIsSlowedPerAddress(t *testing.T) {
	ts := startServer(t, newBackend(t))
	setup(t, ts)
	ctx := context.Background()
	attacker, _ := rpc.Dial(ctx, ts.httpURL, fromAddr("127.0.0.9"))
	for i := range 3 {
		if err := attacker.Call(ctx, "auth.login", model.LoginParams{Password: fmt.Sprintf("guess number %d", i)}, nil); code(err) != rpc.CodeIncorrectPassword {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	err := attacker.Call(ctx, "auth.login", model.LoginParams{Password: ownerPassword}, nil)
	var e *rpc.Error
	if !errors.As(err, &e) || e.Code != rpc.CodeRateLimited || e.Data == nil || e.Data.Info == nil {
		t.Fatalf("after 3 failures: %v", err)
	}
	info, _ := json.Marshal(e.Data.Info)
	var retry struct {
		RetryAfterMs int64 `json:"retryAfterMs"`
	}
	json.Unmarshal(info, &retry)
	if retry.RetryAfterMs <= 0 || retry.RetryAfterMs > 1000 {
		t.Fatalf("retry info %s", info)
	}

	other, _ := rpc.Dial(ctx, ts.httpURL, fromAddr("127.0.0.10"))
	if err := other.Call(ctx, "auth.login", model.LoginParams{Password: ownerPassword}, nil); err != nil {
		t.Fatalf("another address is locked out: %v", err)
	}
	sock, _ := rpc.Dial(ctx, "unix://"+ts.sock, rpc.ClientOptions{})
	defer sock.Close()
	for range 5 {
		sock.Call(ctx, "auth.login", model.LoginParams{Password: "wrong password!"}, nil)
	}
	if err := sock.Call(ctx, "auth.login", model.LoginParams{Password: ownerPassword}, nil); err != nil {
		t.Fatalf("the local administrator was rate limited: %v", err)
	}
	time.Sleep(time.Duration(retry.RetryAfterMs)*time.Millisecond + 50*time.Millisecond)
	if err := attacker.Call(ctx, "auth.login", model.LoginParams{Password: ownerPassword}, nil); err != nil {
		t.Fatalf("right password after the delay: %v", err)
	}
}

// TestKilledSessionLosesItsSubscription: killing a session closes its
// WebSocket connection and subscription within a second.
func TestKilledSessionLosesItsSubscription(t *testing.T) {
	b := newBackend(t)
	ts := startServer(t, b)
	setup(t, ts)
	opts := fromAddr("127.0.0.11")
	_, id := login(t, ts, opts, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := rpc.Dial(ctx, ts.wsURL, opts) // the jar carries the session cookie
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	sub, err := ws.Subscribe(ctx, "server.logs.follow", model.LogsParams{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := rpc.Dial(ctx, "unix://"+ts.sock, rpc.ClientOptions{})
	defer admin.Close()
	start := time.Now()
	if err := admin.Call(ctx, "auth.session.kill", model.SessionKillParams{IDs: []string{id}}, nil); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := sub.Next(ctx); err != nil {
			break
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("subscription ended %s after the kill", d)
	}
	select {
	case <-ws.Done():
	case <-time.After(time.Second):
		t.Fatal("connection still open after the kill")
	}
	if err := admin.Call(ctx, "auth.session.kill", model.SessionKillParams{IDs: []string{"nope"}}, nil); code(err) != rpc.CodeNotFound {
		t.Fatalf("kill unknown: %v", err)
	}
}

// TestResetPasswordEndsOtherSessions and leaves no secret anywhere a client
// or an operator can read.
func TestResetPasswordAndNoSecretsLeak(t *testing.T) {
	b := newBackend(t)
	ts := startServer(t, b)
	setup(t, ts)
	ctx := context.Background()
	a, _ := login(t, ts, fromAddr("127.0.0.12"), false)
	other, _ := login(t, ts, fromAddr("127.0.0.13"), false)
	if err := a.Call(ctx, "auth.reset-password", model.ResetPasswordParams{OldPassword: "not the password", NewPassword: "whatever it is"}, nil); code(err) != rpc.CodeIncorrectPassword {
		t.Fatalf("wrong old password: %v", err)
	}
	const newPassword = "a brand new passphrase"
	if err := a.Call(ctx, "auth.reset-password", model.ResetPasswordParams{OldPassword: ownerPassword, NewPassword: newPassword}, nil); err != nil {
		t.Fatal(err)
	}
	if err := other.Call(ctx, "server.time", nil, nil); code(err) != rpc.CodeUnauthorized {
		t.Fatalf("other session after reset: %v", err)
	}
	if err := a.Call(ctx, "server.time", nil, nil); err != nil {
		t.Fatalf("own session after reset: %v", err)
	}
	freshOpts := fromAddr("127.0.0.14")
	fresh, _ := rpc.Dial(ctx, ts.httpURL, freshOpts)
	if err := fresh.Call(ctx, "auth.login", model.LoginParams{Password: newPassword}, nil); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	var token string
	for _, c := range freshOpts.HTTPClient.Jar.Cookies(mustURL(t, ts.httpURL)) {
		if c.Name == rpc.SessionCookie {
			token = c.Value
		}
	}
	if token == "" {
		t.Fatal("no session cookie after login")
	}
	err := fresh.Call(ctx, "auth.login", model.LoginParams{Password: ownerPassword}, nil)

	// Nothing secret in the public document, the log, or error messages.
	admin, _ := rpc.Dial(ctx, "unix://"+ts.sock, rpc.ClientOptions{})
	defer admin.Close()
	var dump model.Dump
	admin.Call(ctx, "db.dump", model.DumpParams{}, &dump)
	var page model.LogPage
	admin.Call(ctx, "server.logs", model.LogsParams{Limit: 1000}, &page)
	logs, _ := json.Marshal(page)
	_, doc := b.DB().Read()
	secrets := []string{ownerPassword, newPassword, token, doc.Private.PasswordHash}
	for id := range doc.Private.Sessions {
		secrets = append(secrets, id)
	}
	for _, place := range []struct{ name, text string }{
		{"db.dump", string(dump.Value)}, {"server.logs", string(logs)}, {"error", err.Error()},
	} {
		for _, s := range secrets {
			if s != "" && strings.Contains(place.text, s) {
				t.Errorf("%s contains a secret (%.12s...)", place.name, s)
			}
		}
	}
	if len(page.Entries) == 0 || !strings.Contains(string(logs), "login") {
		t.Fatal("log holds no login entries: the check above proved nothing")
	}
}
