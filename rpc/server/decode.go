package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/startos-go/startos/rpc"
)

// request is one validated JSON-RPC request, transport-neutral.
type request struct {
	ID     json.RawMessage // nil for a notification
	Method string
	Params json.RawMessage // always a JSON object
	// noStreams marks a transport that cannot carry a subscription (HTTP).
	noStreams bool
}

func (r *request) notification() bool { return r.ID == nil }

// envelope is the raw shape of a request object.
type envelope struct {
	JSONRPC json.RawMessage `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  json.RawMessage `json:"method"`
	Params  json.RawMessage `json:"params"`
}

func errEmptyRequest() *rpc.Error {
	return rpc.NewError(rpc.CodeParseError, "Parse Error", "empty request: expected a JSON-RPC request object")
}

func errNotJSON() *rpc.Error {
	return rpc.NewError(rpc.CodeParseError, "Parse Error", "request is not valid JSON")
}

var emptyObject = json.RawMessage("{}")

// parseRequest validates one request object. On failure it returns the id it
// could read (nil when none) with the error, so the reply can still carry it.
func parseRequest(raw []byte) (*request, json.RawMessage, *rpc.Error) {
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
		if err := checkID(env.ID); err != nil {
			return nil, nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", err.Error())
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

// checkID accepts what every transport can carry back: a string, a
// non-negative integer, or null.
func checkID(id json.RawMessage) error {
	switch id[0] {
	case '"', 'n':
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(id, &n); err == nil {
		if _, err := n.Int64(); err == nil && !strings.HasPrefix(string(n), "-") {
			return nil
		}
	}
	return errors.New(`"id" must be a string or a non-negative integer`)
}

// decodeParams decodes raw into a new value of m.Params, strictly: unknown
// fields, wrong types and missing required fields are errors that name the
// field. The params are read twice at most: once into the value, once into
// a map of the keys present (for the checks encoding/json does not make).
func decodeParams(m *Method, raw json.RawMessage) (any, *rpc.Error) {
	ptr := reflect.New(m.Params)
	fs := paramFields(m.Params)
	if len(fs) > 0 || !isEmptyObject(raw) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(ptr.Interface()); err != nil {
			return nil, invalidParams(describeDecodeError(err))
		}
	}
	if len(fs) > 0 {
		var present map[string]json.RawMessage
		if json.Unmarshal(raw, &present) == nil {
			if bad := caseMismatch(m.Params, present, ""); bad != "" {
				return nil, invalidParams(bad)
			}
			if missing := missingRequired(fs, present); missing != "" {
				return nil, invalidParams(fmt.Sprintf("missing required param %q", missing))
			}
		}
	}
	if v, ok := ptr.Interface().(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, invalidParams(err.Error())
		}
	}
	return ptr.Elem().Interface(), nil
}

// isEmptyObject reports whether raw is {} (with any spacing): a method
// without params needs no decoder for it.
func isEmptyObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) >= 2 && raw[0] == '{' && raw[len(raw)-1] == '}' && len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0
}

// fieldsByType caches rpc.StructFields per type: params are decoded on every
// call, and the fields of a type never change.
var fieldsByType sync.Map // reflect.Type -> []rpc.ParamField

func paramFields(t reflect.Type) []rpc.ParamField {
	if fs, ok := fieldsByType.Load(t); ok {
		return fs.([]rpc.ParamField)
	}
	fs := rpc.StructFields(t)
	fieldsByType.Store(t, fs)
	return fs
}

func invalidParams(details string) *rpc.Error {
	return rpc.NewError(rpc.CodeInvalidParams, "Invalid Params", details)
}

func describeDecodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("params: expected %s, got %s", rpc.JSONKind(te.Type), te.Value)
		}
		return fmt.Sprintf("param %q: expected %s, got %s", te.Field, rpc.JSONKind(te.Type), te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown param " + f
	}
	return strings.TrimPrefix(msg, "json: ")
}

// nullable reports whether null is a meaningful value of t (any JSON, a
// pointer) rather than a stand-in for "absent".
func nullable(t reflect.Type) bool {
	return t == rawMessageType || t.Kind() == reflect.Interface || t.Kind() == reflect.Pointer
}

// caseMismatch finds a key present (the keys of an object) that names a
// field of struct type t only when case is ignored, as encoding/json would
// accept it: a param is matched by its exact name, so no two spellings reach
// the same field (a filter in front of the daemon cannot be dodged with
// "Password"). It looks into nested objects of plain struct fields too.
func caseMismatch(t reflect.Type, present map[string]json.RawMessage, prefix string) string {
	if t.Kind() != reflect.Struct {
		return ""
	}
	keys := slices.Sorted(maps.Keys(present))
	fs := paramFields(t)
	for _, k := range keys {
		for _, f := range fs {
			switch {
			case f.Name == k:
				if ft := derefType(f.Type); ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(unmarshalerType) {
					var nested map[string]json.RawMessage
					if json.Unmarshal(present[k], &nested) == nil {
						if bad := caseMismatch(ft, nested, prefix+k+"."); bad != "" {
							return bad
						}
					}
				}
			case strings.EqualFold(f.Name, k):
				return fmt.Sprintf("unknown param %q: names are case-sensitive; did you mean %q?", prefix+k, prefix+f.Name)
			}
		}
	}
	return ""
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
)

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// missingRequired returns the first required field absent (or null) among
// the keys present.
func missingRequired(fs []rpc.ParamField, present map[string]json.RawMessage) string {
	for _, f := range fs {
		if !f.Required {
			continue
		}
		v, ok := present[f.Name]
		if !ok || (string(v) == "null" && !nullable(f.Type)) {
			return f.Name
		}
	}
	return ""
}
