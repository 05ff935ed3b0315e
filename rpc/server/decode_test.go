package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/startos-go/startos/rpc"
)

// parseRequestByUnmarshal is parseRequest as it was before it split the
// envelope itself: encoding/json decodes the envelope, the method and the
// id. parseRequest must agree with it on every input.
func parseRequestByUnmarshal(raw []byte) (*request, json.RawMessage, *rpc.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", "empty request")
	}
	if raw[0] != '{' {
		return nil, nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", "a request must be a JSON object")
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", "malformed request object: "+err.Error())
	}
	var id json.RawMessage
	if env.ID != nil {
		ok := env.ID[0] == '"' || env.ID[0] == 'n'
		var n json.Number
		if !ok && json.Unmarshal(env.ID, &n) == nil {
			_, err := n.Int64()
			ok = err == nil && !strings.HasPrefix(string(n), "-")
		}
		if !ok {
			return nil, nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", `"id" must be a string or a non-negative integer`)
		}
		id = env.ID
	}
	if env.JSONRPC != nil && string(env.JSONRPC) != `"2.0"` {
		return nil, id, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", `"jsonrpc" must be "2.0"`)
	}
	var method string
	if env.Method == nil || json.Unmarshal(env.Method, &method) != nil || method == "" {
		return nil, id, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", `"method" must be a non-empty string`)
	}
	params := env.Params
	switch {
	case params == nil || string(params) == "null":
		params = emptyObject
	case params[0] != '{':
		return nil, id, rpc.NewError(rpc.CodeInvalidParams, "Invalid Params", "params must be a JSON object (named params)")
	}
	return &request{ID: id, Method: method, Params: params}, id, nil
}

var requestSamples = []string{
	`{"jsonrpc":"2.0","id":1,"method":"echo","params":{"message":"hi"}}`,
	`{"id":"a\"b","method":"echo"}`,
	`{"ID":7,"METHOD":"echo","Params":{}}`,
	`{"id":1,"method":"echo","method":"state"}`,
	`{"id":1,"\u006dethod":"echo"}`,
	`{"id":1,"method":"ec\u0068o"}`,
	`{"id":1,"method":"\u00e9cho"}`,
	`{"id":1,"method":"` + "\xff" + `"}`,
	`{"id":1,"jſonrpc":"1.0","method":"echo"}`,
	`{"id":1,"parameterſ":{},"method":"echo"}`,
	`{"id":-1,"method":"echo"}`,
	`{"id":1.5,"method":"echo"}`,
	`{"id":1e3,"method":"echo"}`,
	`{"id":99999999999999999999,"method":"echo"}`,
	`{"id":999999999999999999,"method":"echo"}`,
	`{"id":true,"method":"echo"}`,
	`{"id":[1],"method":"echo"}`,
	`{"id":null,"method":"echo"}`,
	`{"id":1,"method":null}`,
	`{"id":1,"method":""}`,
	`{"id":1,"method":7}`,
	`{"id":1,"method":"echo","params":[1]}`,
	`{"id":1,"method":"echo","params":null}`,
	`{"id":1,"method":"echo","params": { "message" : "x" , "n" : [1,{"a":"}"}] } }`,
	`{"id":1,"method":"echo","jsonrpc":"2.0 "}`,
	`{"id":1,"method":"echo","jsonrpc":2}`,
	` { "id" : 1 , "method" : "echo" } `,
	`{}`,
	`{"id":1,`,
	`{"id":1,"method":"echo"} x`,
	`[]`,
	`"echo"`,
	``,
}

func TestParseRequestAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range requestSamples {
		checkParseRequest(t, []byte(s))
	}
}

func FuzzParseRequestAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range requestSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParseRequest)
}

func checkParseRequest(t *testing.T, raw []byte) {
	req, id, perr := parseRequest(raw)
	wreq, wid, wperr := parseRequestByUnmarshal(raw)
	if !reflect.DeepEqual(perr, wperr) || !bytes.Equal(id, wid) || (id == nil) != (wid == nil) {
		t.Fatalf("%q: got (%s, %+v), encoding/json (%s, %+v)", raw, id, perr, wid, wperr)
	}
	if (req == nil) != (wreq == nil) {
		t.Fatalf("%q: got %+v, encoding/json %+v", raw, req, wreq)
	}
	if req != nil && (req.Method != wreq.Method || !bytes.Equal(req.ID, wreq.ID) || !bytes.Equal(req.Params, wreq.Params)) {
		t.Fatalf("%q: got %q %s %s, encoding/json %q %s %s", raw, req.Method, req.ID, req.Params, wreq.Method, wreq.ID, wreq.Params)
	}
}

// decodeParamsGeneral is decodeParams without the flat-type path.
func decodeParamsGeneral(m *Method, raw json.RawMessage) (any, *rpc.Error) {
	ptr := reflect.New(m.Params)
	fs := paramFields(m.Params)
	if len(fs) > 0 || !isEmptyObject(raw) {
		if perr := decodeChecked(m.Params, fs, raw, ptr.Interface()); perr != nil {
			return nil, perr
		}
	}
	if v, ok := ptr.Interface().(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, invalidParams(err.Error())
		}
	}
	return ptr.Elem().Interface(), nil
}

// paramsSamples are params for every method: for each of its fields, a
// value of the right kind, of a wrong kind and null, and the keys in exact
// and in another case, repeated and unknown.
func paramsSamples(m *Method) []string {
	out := []string{`{}`, `{"zzz":1}`, `{"a":{"b":1}}`}
	var all []string
	for _, f := range paramFields(m.Params) {
		k, _ := json.Marshal(f.Name)
		good := sampleValue(f.Type)
		all = append(all, fmt.Sprintf("%s:%s", k, good))
		for _, v := range []string{good, "null", `"x"`, `1`, `[]`, `{}`, `true`} {
			out = append(out, fmt.Sprintf("{%s:%s}", k, v))
		}
		upper, _ := json.Marshal(strings.ToUpper(f.Name))
		out = append(out, fmt.Sprintf("{%s:%s}", upper, good), fmt.Sprintf("{%s:%s,%s:null}", k, good, k))
		escaped := `"\u00` + fmt.Sprintf("%x", f.Name[0]) + f.Name[1:] + `"`
		out = append(out, fmt.Sprintf("{%s:%s}", escaped, good))
	}
	if len(all) > 0 {
		out = append(out, "{"+strings.Join(all, ",")+"}", "{"+strings.Join(all, ",")+`,"zzz":1}`)
		rev := slices.Clone(all)
		slices.Reverse(rev)
		out = append(out, "{"+strings.Join(rev, " , ")+"}")
	}
	return out
}

// sampleValue is a JSON value a field of type t decodes from.
func sampleValue(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch rpc.JSONKind(t) {
	case "string":
		return `"s"`
	case "boolean":
		return `true`
	case "integer", "non-negative integer", "number":
		return `3`
	case "array":
		return `[]`
	case "object":
		return `{}`
	case "an RFC 3339 time string":
		return `"2024-01-02T03:04:05Z"`
	}
	return `null`
}

// Every method's params decode the same through the flat-type path as
// through the general one: the same value, or the same error.
func TestDecodeParamsFlatPathAgrees(t *testing.T) {
	flat := 0
	for _, m := range Table {
		if paramsOf(m.Params).flat {
			flat++
		}
		for _, raw := range paramsSamples(m) {
			checkDecodeParams(t, m, []byte(raw))
		}
	}
	if flat < len(Table)/2 {
		t.Fatalf("only %d of %d params types are flat", flat, len(Table))
	}
}

func FuzzDecodeParamsFlatPathAgrees(f *testing.F) {
	for i, m := range Table {
		for _, raw := range paramsSamples(m) {
			f.Add(uint8(i), []byte(raw))
		}
	}
	f.Fuzz(func(t *testing.T, i uint8, raw []byte) {
		if int(i) >= len(Table) || len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
			return // parseRequest hands decodeParams only valid objects
		}
		checkDecodeParams(t, Table[i], raw)
	})
}

func checkDecodeParams(t *testing.T, m *Method, raw []byte) {
	t.Helper()
	got, perr := decodeParams(m, raw)
	want, wperr := decodeParamsGeneral(m, raw)
	if !reflect.DeepEqual(perr, wperr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %s: got (%+v, %+v), general path (%+v, %+v)", m.Name, raw, got, perr, want, wperr)
	}
}

// A params type whose fields differ only in case, or hold a struct, takes
// the general path.
func TestParamsTypesThatAreNotFlat(t *testing.T) {
	type nested struct{ A int }
	for _, typ := range []reflect.Type{
		reflect.TypeFor[struct {
			Name  string `json:"name"`
			Other string `json:"Name"`
		}](),
		reflect.TypeFor[struct {
			N nested `json:"n"`
		}](),
		reflect.TypeFor[struct {
			N []map[string]*nested `json:"n"`
		}](),
		reflect.TypeFor[struct {
			// encoding/json ignores a name it finds invalid and uses
			// "Bad"; StructFields does not know that.
			Bad string `json:"a'b"` //nolint:staticcheck // malformed on purpose
		}](),
	} {
		if paramsOf(typ).flat {
			t.Errorf("%v counts as flat", typ)
		}
	}
	if !paramsOf(reflect.TypeFor[struct {
		At  rpc.ParamField  `json:"-"`
		Raw json.RawMessage `json:"raw"`
		Any any             `json:"any"`
	}]()).flat {
		t.Error("a type with only raw and any fields is not flat")
	}
}
