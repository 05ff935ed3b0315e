package server

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// TestEncodeResponseIsEncodingJSON: the hand-written envelope is byte for
// byte what encoding/json writes.
func TestEncodeResponseIsEncodingJSON(t *testing.T) {
	result, _ := marshalResult([]model.PackageSummary{{ID: "a<b>&c", Title: "\u2028x"}})
	for _, r := range []*rpc.WireResponse{
		{JSONRPC: "2.0", ID: json.RawMessage(`7`), Result: result},
		{JSONRPC: "2.0", ID: json.RawMessage(`"x<y"`), Result: json.RawMessage(`"ok"`)},
		{JSONRPC: "2.0", ID: nullID, Result: json.RawMessage(`null`)},
		{JSONRPC: "2.0", ID: json.RawMessage(`1`), Error: rpc.NewError(rpc.CodeNotFound, "Not Found", "x")},
	} {
		got, err := encodeResponse(r)
		want, _ := json.Marshal(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("encodeResponse(%s) = %s, %v; encoding/json: %s", r.ID, got, err, want)
		}
	}
}

// TestDecodeParamsOnce: {} for a method without params needs no decoder,
// and the checks still refuse what they refused.
func TestDecodeParamsChecks(t *testing.T) {
	for _, c := range []struct {
		method, raw, wantErr string
	}{
		{"package.list", `{}`, ""},
		{"package.list", ` { } `, ""},
		{"package.list", `{"x":1}`, `unknown param "x"`},
		{"echo", `{"message":"hi"}`, ""},
		{"echo", `{}`, `missing required param "message"`},
		{"echo", `{"message":null}`, `missing required param "message"`},
		{"echo", `{"Message":"hi"}`, `unknown param "Message": names are case-sensitive; did you mean "message"?`},
		{"echo", `{"message":1}`, `param "message": expected string, got number`},
	} {
		_, e := decodeParams(tableSet[c.method], json.RawMessage(c.raw))
		got := ""
		if e != nil {
			got = e.Data.Details
		}
		if got != c.wantErr {
			t.Errorf("%s %s: %q, want %q", c.method, c.raw, got, c.wantErr)
		}
	}
}
