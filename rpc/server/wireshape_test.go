package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/model"
)

// The StartOS wire table: testdata/startos/<method>.json holds, for each
// method startd shares with StartOS, the params StartOS's clients send and
// the shape of StartOS's result, written down from StartOS's generated
// bindings (sdk/base/lib/osBindings/*.ts at the seed commit). Each case is
// sent as the StartOS UI sends it (POST /rpc/v1, no id) to a real server,
// and the result must match the shape strictly.
//
// A case file is a JSON array of cases:
//
//	{"name": "...", "binding": "SetupStatusRes",
//	 "owner": true,          // set the box up first (password ownerPassword)
//	 "session": true,        // call with a session cookie from auth.login, not the local cookie
//	 "before": [{"method", "params"}],   // calls that must succeed first
//	 "params": {...},        // "$encrypt:<pw>" becomes {"encrypted": <JWE>} made with setup.get-pubkey's key;
//	                         // "$session" the session id of the "session" login,
//	                         // "$setup-guid" setup.status's guid
//	 "result": <shape>,      // or "error": {"code": N}
//	 "after": [{"method", "params", "result" | "error"}],  // checks that the call was honoured
//	 "differs": "why",       // startd's result differs on purpose; docs/rpc.md names the method
//	 "ready": true}          // poll until the method stops answering 79 (a background sample)
//
// A shape is "string", "number", "integer", "boolean", "null", "any",
// "object", "array", a union "string|null", a literal "=complete"; an
// object {"field": shape} (every field present, extra fields allowed;
// "*" matches every value of a record); an array [shape] (every element).
type wireCase struct {
	Name    string          `json:"name"`
	Binding string          `json:"binding"`
	Owner   bool            `json:"owner"`
	Session bool            `json:"session"`
	Before  []wireCall      `json:"before"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   *wantError      `json:"error"`
	After   []wireCall      `json:"after"`
	// Differs says why startd's result deliberately differs from StartOS's
	// (then result is startd's shape); docs/rpc.md's table must name the
	// method.
	Differs string `json:"differs"`
	// Ready polls the method until it stops answering 79 (unavailable),
	// for values sampled in the background after start.
	Ready bool `json:"ready"`
}

type wireCall struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *wantError      `json:"error"`
}

type wantError struct {
	Code int `json:"code"`
}

// sharedMethods are the methods startd shares with StartOS 0.4; each has
// a case file. Methods that need an installed package are in
// TestStartOSWireShapesWithPackages.
var sharedMethods = []string{
	"echo", "state",
	"setup.status", "setup.execute", "setup.get-pubkey",
	"auth.login", "auth.logout", "auth.session.list", "auth.session.kill", "auth.reset-password", "auth.get-pubkey",
	"server.time", "server.device-info", "server.logs", "server.logs.follow", "server.metrics", "server.metrics.follow",
	"server.set-smtp", "server.clear-smtp", "server.set-hostname",
	"package.list", "package.installed-version", "package.stats",
	"notification.list", "notification.create", "notification.remove", "notification.remove-before",
	"notification.mark-seen", "notification.mark-seen-before", "notification.mark-unseen",
	"ssh.add", "ssh.list", "ssh.remove",
	"backup.target.list",
	"db.dump", "db.subscribe", "db.put.ui",
}

func TestStartOSWireShapes(t *testing.T) {
	for _, method := range sharedMethods {
		if _, ok := rpc.Lookup(method); !ok {
			t.Errorf("%s: not in the table", method)
		}
		b, err := os.ReadFile(filepath.Join("testdata", "startos", method+".json"))
		if err != nil {
			t.Errorf("%s: no case file: %v", method, err)
			continue
		}
		var cases []wireCase
		if err := json.Unmarshal(b, &cases); err != nil || len(cases) == 0 {
			t.Fatalf("%s: case file: %v (%d cases)", method, err, len(cases))
		}
		for _, c := range cases {
			t.Run(method+"/"+c.Name, func(t *testing.T) { runWireCase(t, method, c) })
		}
	}
}

func runWireCase(t *testing.T, method string, c wireCase) {
	ts := startServer(t, newBackend(t))
	local := []*http.Cookie{{Name: rpc.LocalCookie, Value: ts.cookie}}
	if c.Owner {
		if _, e, _ := postAs(t, ts, local, `{"method":"setup.execute","params":{"password":`+string(mustJSON(t, ownerPassword))+`}}`); e != nil {
			t.Fatalf("setup: %v", e)
		}
	}
	as, sessionID := local, ""
	if c.Session {
		as, sessionID = wireLogin(t, ts)
	}
	subst := func(raw json.RawMessage) json.RawMessage {
		if len(raw) == 0 {
			return json.RawMessage("{}")
		}
		return substParams(t, ts, raw, sessionID)
	}
	for _, b := range c.Before {
		if _, e, _ := postAs(t, ts, local, wireBody(b.Method, subst(b.Params))); e != nil {
			t.Fatalf("before: %s: %v", b.Method, e)
		}
	}
	if c.Differs != "" && !strings.Contains(differencesTable(t), "`"+method+"`") {
		t.Errorf("%s differs from StartOS (%s) but docs/rpc.md's table does not name it", method, c.Differs)
	}
	body := wireBody(method, subst(c.Params))
	res, e, _ := postAs(t, ts, as, body)
	for deadline := time.Now().Add(20 * time.Second); c.Ready && e != nil && e.Code == rpc.CodeUnavailable && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // polling for the first background sample
		res, e, _ = postAs(t, ts, as, body)
	}
	checkWireAnswer(t, method+" ("+c.Binding+")", res, e, c.Result, c.Error)
	for _, a := range c.After {
		res, e, _ := postAs(t, ts, local, wireBody(a.Method, subst(a.Params)))
		checkWireAnswer(t, "after: "+a.Method, res, e, a.Result, a.Error)
	}
}

// differencesTable is docs/rpc.md's section on where startd differs.
func differencesTable(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "rpc.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "## Where startd differs from StartOS on the wire")
	if !ok {
		t.Fatal("docs/rpc.md has no section \"Where startd differs from StartOS on the wire\"")
	}
	if end := strings.Index(table, "\n## "); end >= 0 {
		table = table[:end]
	}
	return table
}

// wireBody is a request as the StartOS UI sends it: no id, no jsonrpc.
func wireBody(method string, params json.RawMessage) string {
	m, _ := json.Marshal(method)
	return `{"method":` + string(m) + `,"params":` + string(params) + `}`
}

func checkWireAnswer(t *testing.T, what string, res json.RawMessage, e *rpc.Error, shape json.RawMessage, wantErr *wantError) {
	t.Helper()
	if wantErr != nil {
		if e == nil || e.Code != wantErr.Code {
			t.Fatalf("%s: answered %s, error %v; want error code %d", what, res, e, wantErr.Code)
		}
		return
	}
	if e != nil {
		t.Fatalf("%s: refused StartOS's params: %v", what, e)
	}
	if len(shape) == 0 {
		t.Fatalf("%s: the case declares neither result nor error", what)
	}
	var v any
	if err := json.Unmarshal(res, &v); err != nil {
		t.Fatalf("%s: result %q is not JSON", what, res)
	}
	var s any
	if err := json.Unmarshal(shape, &s); err != nil {
		t.Fatalf("%s: bad shape: %v", what, err)
	}
	if errs := matchShape("result", v, s); len(errs) > 0 {
		t.Fatalf("%s: result %s does not match StartOS's shape:\n  %s", what, res, strings.Join(errs, "\n  "))
	}
}

// matchShape lists every way v differs from shape.
func matchShape(path string, v any, shape any) []string {
	switch s := shape.(type) {
	case string:
		for _, alt := range strings.Split(s, "|") {
			if matchScalar(v, alt) {
				return nil
			}
		}
		return []string{fmt.Sprintf("%s: %s, want %s", path, describe(v), s)}
	case []any:
		arr, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %s, want an array", path, describe(v))}
		}
		var errs []string
		for i, el := range arr {
			if len(s) > 0 {
				errs = append(errs, matchShape(fmt.Sprintf("%s[%d]", path, i), el, s[0])...)
			}
		}
		return errs
	case map[string]any:
		obj, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %s, want an object", path, describe(v))}
		}
		var errs []string
		if each, ok := s["*"]; ok && len(s) == 1 {
			for k, el := range obj {
				errs = append(errs, matchShape(path+"."+k, el, each)...)
			}
			return errs
		}
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			el, present := obj[k]
			if !present {
				errs = append(errs, fmt.Sprintf("%s.%s: missing (want %v)", path, k, s[k]))
				continue
			}
			errs = append(errs, matchShape(path+"."+k, el, s[k])...)
		}
		return errs
	}
	return []string{fmt.Sprintf("%s: bad shape %v", path, shape)}
}

func matchScalar(v any, want string) bool {
	if lit, ok := strings.CutPrefix(want, "="); ok {
		b, _ := json.Marshal(v)
		return v == lit || string(b) == lit // "=complete", "=false", "=1"
	}
	switch want {
	case "any":
		return true
	case "null":
		return v == nil
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	}
	return false
}

func describe(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		b = append(b[:57], "..."...)
	}
	return string(b)
}

// substParams replaces "$encrypt:<pw>" with StartOS's EncryptedWire made
// as the UI makes it, with the key the box announces, and "$session" with
// the case's session id.
func substParams(t *testing.T, ts *testServer, raw json.RawMessage, sessionID string) json.RawMessage {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("params %s: %v", raw, err)
	}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			for k, el := range x {
				x[k] = walk(el)
			}
		case []any:
			for i, el := range x {
				x[i] = walk(el)
			}
		case string:
			if x == "$session" {
				return sessionID
			}
			if x == "$setup-guid" {
				res, e, _ := postAs(t, ts, nil, `{"method":"setup.status"}`)
				var st struct{ GUID string }
				if e != nil || json.Unmarshal(res, &st) != nil || st.GUID == "" {
					t.Fatalf("setup.status has no guid: %s %v", res, e)
				}
				return st.GUID
			}
			if pw, ok := strings.CutPrefix(x, "$encrypt:"); ok {
				return map[string]any{"encrypted": encryptAsUI(t, ts, pw)}
			}
		}
		return x
	}
	return mustJSON(t, walk(v))
}

func encryptAsUI(t *testing.T, ts *testServer, pw string) json.RawMessage {
	t.Helper()
	res, e, _ := postAs(t, ts, nil, `{"method":"setup.get-pubkey"}`)
	if e != nil {
		t.Fatalf("setup.get-pubkey: %v", e)
	}
	var key model.JWK
	if err := json.Unmarshal(res, &key); err != nil {
		t.Fatal(err)
	}
	enc, err := auth.EncryptForWire(key, pw)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// wireLogin logs in over HTTP as the UI does and returns the session
// cookie and the session's id.
func wireLogin(t *testing.T, ts *testServer) ([]*http.Cookie, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.httpURL+"/rpc/v1", strings.NewReader(wireBody("auth.login", mustJSON(t, map[string]any{"password": ownerPassword, "ephemeral": false}))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookies []*http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == rpc.SessionCookie {
			cookies = append(cookies, c)
		}
	}
	if len(cookies) != 1 {
		t.Fatalf("auth.login set no session cookie (status %d)", resp.StatusCode)
	}
	res, e, _ := postAs(t, ts, cookies, `{"method":"auth.session.list"}`)
	var list model.SessionList
	if e != nil || json.Unmarshal(res, &list) != nil || list.Current == "" {
		t.Fatalf("auth.session.list after login: %s %v", res, e)
	}
	return cookies, list.Current
}

// TestSetupExecuteStreamsItsProgress: the setup wizard's flow over the
// wire. setup.execute with an encrypted password answers {progress, guid};
// the WebSocket /ws/rpc/<guid> then closes normally with reason "complete"
// (this box's setup has finished by the answer), and the owner can log in
// with the password that crossed the wire encrypted.
func TestSetupExecuteStreamsItsProgress(t *testing.T) {
	ts := startServer(t, newBackend(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	params := substParams(t, ts, json.RawMessage(`{"guid":"$setup-guid","password":"$encrypt:`+ownerPassword+`","recoverySource":null,"kiosk":false,"name":null,"hostname":null}`), "")
	res, e, _ := postAs(t, ts, nil, wireBody("setup.execute", params))
	var sp struct {
		Progress model.FullProgress `json:"progress"`
		GUID     string             `json:"guid"`
	}
	if e != nil || json.Unmarshal(res, &sp) != nil || !guidPattern.MatchString(sp.GUID) || sp.Progress.Overall.Kind != model.ProgressComplete {
		t.Fatalf("setup.execute answered %s (%v); want {progress: complete, guid}", res, e)
	}
	ws, _, err := dialGUID(ctx, ts, sp.GUID)
	if err != nil {
		t.Fatalf("open /ws/rpc/<guid>: %v", err)
	}
	defer ws.CloseNow()
	_, _, err = ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure || !strings.Contains(err.Error(), "complete") {
		t.Fatalf("the setup stream ended with %v; want a normal close with reason complete", err)
	}
	if _, e, _ := postAs(t, ts, nil, wireBody("auth.login", mustJSON(t, map[string]any{"password": ownerPassword, "ephemeral": true}))); e != nil {
		t.Fatalf("login with the password sent encrypted: %v", e)
	}
}

// TestEncryptedPasswordParamsDecodeStrictly: the params that take StartOS's
// PasswordType (a string or {"encrypted": <JWE>}) stay as strict as every
// other params type: unknown fields, wrong types and stray members of the
// encrypted form are refused with the field named.
func TestEncryptedPasswordParamsDecodeStrictly(t *testing.T) {
	setupExec := tableSet["setup.execute"]
	reset := tableSet["auth.reset-password"]
	for _, tc := range []struct {
		m    *Method
		raw  string
		want string // "" = accepted
	}{
		{setupExec, `{"password":"pw"}`, ""},
		{setupExec, `{"password":{"encrypted":{"protected":"x"}},"guid":"G","kiosk":false,"recoverySource":null,"name":null,"hostname":null}`, ""},
		{setupExec, `{"password":{"encrypted":{}},"colour":1}`, `unknown param "colour"`},
		{setupExec, `{"password":{"encrypted":{},"alg":"x"}}`, `"password"`},
		{setupExec, `{"password":{"encrypted":null}}`, `"password"`},
		{setupExec, `{"password":5}`, `"password"`},
		{setupExec, `{"password":"pw","kiosk":"yes"}`, `"kiosk"`},
		{setupExec, `{"recoverySource":{"type":"backup","target":{"url":"/x"},"password":{"encrypted":"a.b.c.d.e"},"colour":1}}`, `unknown param "colour"`},
		{reset, `{"oldPassword":{"encrypted":"a.b.c.d.e"},"newPassword":"new"}`, ""},
		{reset, `{"oldPassword":"old"}`, `missing required param "newPassword"`},
		{reset, `{"oldPassword":[],"newPassword":"new"}`, `oldPassword`},
	} {
		v, err := decodeParams(tc.m, json.RawMessage(tc.raw))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %s: refused: %v", tc.m.Name, tc.raw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %s: %v (decoded %+v); want an error naming %s", tc.m.Name, tc.raw, err, v, tc.want)
		}
	}
	v, err := decodeParams(reset, json.RawMessage(`{"oldPassword":{"encrypted":"a.b.c.d.e"},"newPassword":"new"}`))
	if p, ok := v.(model.ResetPasswordParams); err != nil || !ok || string(p.OldPasswordEncrypted) != `"a.b.c.d.e"` || p.OldPassword != "" || p.NewPassword != "new" {
		t.Fatalf("decoded %+v %v; want the JWE kept for the library to open", v, err)
	}
}
