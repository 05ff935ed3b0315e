package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// TestNothingToSayIsNull: a method with nothing to answer answers null, as
// StartOS does, on HTTP and on the stream transports; the Go client reads
// that as success.
func TestNothingToSayIsNull(t *testing.T) {
	ts := startServer(t, newBackend(t))
	local := []*http.Cookie{{Name: rpc.LocalCookie, Value: ts.cookie}}
	res, e, _ := postAs(t, ts, local, `{"id":1,"method":"db.put.ui","params":{"pointer":"/a","value":1}}`)
	if e != nil || string(res) != "null" {
		t.Fatalf("db.put.ui over HTTP answered %s (error %v); want null", res, e)
	}
	ws := dialWS(t, ts.wsURL)
	defer ws.close()
	ws.send(t, `{"jsonrpc":"2.0","id":2,"method":"db.put.ui","params":{"pointer":"/b","value":2}}`)
	got := ws.recv(t)
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal([]byte(got), &env); err != nil || string(env.Result) != "null" {
		t.Fatalf("db.put.ui over WebSocket answered %s; want result null", got)
	}
	c, err := rpc.Dial(context.Background(), "unix://"+ts.sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, e, _ = postAs(t, ts, local, `{"id":3,"method":"package.installed-version","params":{"id":"absent"}}`)
	if e != nil || string(res) != "null" {
		t.Fatalf("package.installed-version of an absent package answered %s (error %v); want null", res, e)
	}
	_, e, _ = postAs(t, ts, local, `{"id":4,"method":"notification.create","params":{"package":"bitcoind","level":"info","title":"t","message":"m"}}`)
	if e != nil {
		t.Fatalf("notification.create with StartOS's package param: %v", e)
	}
	res, e, _ = postAs(t, ts, local, `{"id":5,"method":"notification.list","params":{}}`)
	if e != nil || !strings.Contains(string(res), `"packageId":"bitcoind"`) {
		t.Fatalf("notification created with package: list says %s (%v); want packageId bitcoind", res, e)
	}
	if _, e, _ = postAs(t, ts, local, `{"id":6,"method":"notification.create","params":{"package":"a","packageId":"b","level":"info","title":"t","message":"m"}}`); e == nil || !strings.Contains(e.Error(), "two packages") {
		t.Fatalf("two different package names: %v; want an error naming both", e)
	}
	var out model.Empty
	if err := c.Call(context.Background(), "db.put.ui", model.PutUIParams{Pointer: "/c", Value: []byte("3")}, &out); err != nil {
		t.Fatalf("the Go client reading a null result: %v", err)
	}
}
