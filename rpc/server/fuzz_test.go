package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/rpc"
)

// FuzzDecodeRequest drives the request decoder with arbitrary bytes: it must
// never panic, and what it accepts must be a well-formed request whose
// params, if the method exists, either decode or yield an invalid-params
// error that says what was wrong.
func FuzzDecodeRequest(f *testing.F) {
	paths, _ := filepath.Glob("testdata/golden/*.txt")
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		head, _, _ := strings.Cut(string(b), "\n----------\n")
		if _, req, ok := strings.Cut(head, "\n"); ok {
			f.Add([]byte(req))
		}
	}
	f.Add([]byte(`{"id":18446744073709551615,"method":"echo","params":{"message":"\u0000"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, bad := readStreamRequest(raw)
		req, id, perr := parseRequest(raw)
		if perr != nil {
			if perr.Code == 0 || perr.Data == nil || perr.Data.Details == "" {
				t.Fatalf("error without code or details: %+v", perr)
			}
			if bad == nil {
				t.Fatalf("stream check accepted what parseRequest refused: %q", raw)
			}
			if id != nil && !json.Valid(id) {
				t.Fatalf("invalid id echoed back: %q", id)
			}
			return
		}
		if req.Method == "" || len(req.Params) == 0 || req.Params[0] != '{' {
			t.Fatalf("accepted malformed request: %+v", req)
		}
		if m, ok := tableSet[req.Method]; ok {
			if _, e := decodeParams(m, req.Params); e != nil && (e.Code != rpc.CodeInvalidParams || e.Data.Details == "") {
				t.Fatalf("params error %+v", e)
			}
		}
	})
}
