package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

var guidPattern = regexp.MustCompile(`^[A-Z2-7]{32}$`)

// post sends one request over plain HTTP with exactly the cookies given (no
// local cookie), and decodes the envelope's result or error.
func postAs(t *testing.T, ts *testServer, cookies []*http.Cookie, body string) (json.RawMessage, *rpc.Error, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.httpURL+"/rpc/v1", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *rpc.Error      `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s: decode: %v", body, err)
	}
	return env.Result, env.Error, resp.Header
}

func dialGUID(ctx context.Context, ts *testServer, guid string) (*websocket.Conn, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(ts.httpURL, "http") + "/ws/rpc/" + guid
	return websocket.Dial(ctx, url, nil)
}

// TestStreamByGUIDOverHTTP: StartOS's pattern for streams. A plain HTTP
// call of a streaming method answers its initial value with a guid; the
// WebSocket /ws/rpc/<guid> then carries one JSON frame per item, and the
// guid works once.
func TestStreamByGUIDOverHTTP(t *testing.T) {
	ts := startServer(t, newBackend(t))
	local := []*http.Cookie{{Name: rpc.LocalCookie, Value: ts.cookie}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	res, e, _ := postAs(t, ts, local, `{"method":"db.subscribe","params":{"pointer":"/public/ui"}}`)
	if e != nil {
		t.Fatalf("db.subscribe over HTTP: %v", e)
	}
	var sub struct {
		GUID string      `json:"guid"`
		Dump *model.Dump `json:"dump"`
	}
	if err := json.Unmarshal(res, &sub); err != nil || sub.Dump == nil || !guidPattern.MatchString(sub.GUID) {
		t.Fatalf("db.subscribe answered %s (%v): want {dump:{id,value}, guid} with a 32-character base32 guid", res, err)
	}

	ws, _, err := dialGUID(ctx, ts, sub.GUID)
	if err != nil {
		t.Fatalf("open /ws/rpc/<guid>: %v", err)
	}
	defer ws.CloseNow()
	if _, e, _ := postAs(t, ts, local, `{"id":2,"method":"db.put.ui","params":{"pointer":"/theme","value":"dark"}}`); e != nil {
		t.Fatalf("db.put.ui: %v", e)
	}
	var rev model.Revision
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read a revision frame: %v", err)
		}
		if err := json.Unmarshal(b, &rev); err != nil {
			t.Fatalf("frame %s is not a Revision: %v", b, err)
		}
		if len(rev.Patch) > 0 {
			break // an empty patch is a sync marker
		}
	}
	if rev.ID <= sub.Dump.ID || !strings.Contains(string(mustJSON(t, rev.Patch)), `"/theme"`) {
		t.Fatalf("revision %+v after dump %d: want a later revision patching /theme", rev, sub.Dump.ID)
	}

	// The guid was a one-shot capability.
	_, resp, err := dialGUID(ctx, ts, sub.GUID)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("second claim of a guid: err %v, response %v; want 404", err, resp)
	}

	// Methods whose StartOS answer nests the value say so.
	res, e, _ = postAs(t, ts, local, `{"id":3,"method":"server.metrics.follow","params":{}}`)
	var m map[string]json.RawMessage
	if e != nil || json.Unmarshal(res, &m) != nil || m["metrics"] == nil || m["guid"] == nil {
		t.Fatalf("server.metrics.follow over HTTP: %s %v; want {metrics, guid}", res, e)
	}
}

// TestGUIDStreamsEndWithTheirSession: a stream opened by a session is
// closed when the session logs out, whether it was claimed or not.
func TestGUIDStreamsEndWithTheirSession(t *testing.T) {
	ts := startServer(t, newBackend(t))
	setup(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	_, e, h := postAs(t, ts, nil, `{"id":1,"method":"auth.login","params":{"password":"`+ownerPassword+`"}}`)
	if e != nil {
		t.Fatalf("login: %v", e)
	}
	var session []*http.Cookie
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "session" {
			session = append(session, c)
		}
	}
	if len(session) != 1 {
		t.Fatalf("login set no session cookie: %v", h)
	}
	open := func() string {
		res, e, _ := postAs(t, ts, session, `{"id":2,"method":"server.logs.follow","params":{"limit":1}}`)
		var r struct {
			GUID string `json:"guid"`
		}
		if e != nil || json.Unmarshal(res, &r) != nil || r.GUID == "" {
			t.Fatalf("server.logs.follow over HTTP: %s %v", res, e)
		}
		return r.GUID
	}
	claimed, parked := open(), open()
	ws, _, err := dialGUID(ctx, ts, claimed)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	if _, e, _ := postAs(t, ts, session, `{"id":3,"method":"auth.logout","params":{}}`); e != nil {
		t.Fatalf("logout: %v", e)
	}
	for {
		if _, _, err = ws.Read(ctx); err != nil {
			break
		}
	}
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("claimed stream after logout ended with %v; want close status %d (session ended)", err, websocket.StatusPolicyViolation)
	}
	_, resp, err := dialGUID(ctx, ts, parked)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("claim after logout: err %v, response %v; want 404", err, resp)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
