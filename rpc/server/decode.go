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
	"github.com/startos-go/startos/rpc/internal/jsonobj"
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
// The request object is scanned twice, once to check it is JSON and once to
// split its members, and its values are not copied: the request's ID and
// Params are slices of raw.
func parseRequest(raw []byte) (*request, json.RawMessage, *rpc.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", "empty request")
	}
	if raw[0] != '{' {
		return nil, nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", "a request must be a JSON object")
	}
	if !json.Valid(raw) {
		var env envelope
		err := json.Unmarshal(raw, &env) // for encoding/json's description
		return nil, nil, rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", "malformed request object: "+err.Error())
	}
	// Keys match as encoding/json matches them to the fields of envelope:
	// case-insensitively, the last of a repeated key winning.
	var env envelope
	for m := jsonobj.Walk(raw); ; {
		k, v, ok := m.Next()
		if !ok {
			break
		}
		switch {
		case jsonobj.KeyIs(k, "jsonrpc"):
			env.JSONRPC = v
		case jsonobj.KeyIs(k, "id"):
			env.ID = v
		case jsonobj.KeyIs(k, "method"):
			env.Method = v
		case jsonobj.KeyIs(k, "params"):
			env.Params = v
		}
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
	method, _ := jsonobj.String(env.Method)
	if method == "" {
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
	if len(id) <= 18 && allDigits(id) {
		return nil // the common case, without a decode
	}
	var n json.Number
	if err := json.Unmarshal(id, &n); err == nil {
		if _, err := n.Int64(); err == nil && !strings.HasPrefix(string(n), "-") {
			return nil
		}
	}
	return errors.New(`"id" must be a string or a non-negative integer`)
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// decodeParams decodes raw into a new value of m.Params, strictly: unknown
// fields, wrong types and missing required fields are errors that name the
// field. Params whose keys are all exact field names of a flat type (see
// paramsInfo) are decoded once, after a scan of their keys; others are read
// twice at most: once into the value, once into a map of the keys present
// (for the checks encoding/json does not make).
func decodeParams(m *Method, raw json.RawMessage) (any, *rpc.Error) {
	ptr := reflect.New(m.Params)
	info := paramsOf(m.Params)
	fs := info.fields
	if len(fs) > 0 || !isEmptyObject(raw) {
		if done, perr := info.decodeFlat(raw, ptr.Interface()); perr != nil {
			return nil, perr
		} else if !done {
			if perr := decodeChecked(m.Params, fs, raw, ptr.Interface()); perr != nil {
				return nil, perr
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

// decodeChecked decodes raw into ptr with unknown fields refused at every
// depth, then checks the keys present: their case, and that every required
// field is there.
func decodeChecked(t reflect.Type, fs []rpc.ParamField, raw json.RawMessage, ptr any) *rpc.Error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr); err != nil {
		return invalidParams(describeDecodeError(err))
	}
	if len(fs) > 0 {
		var present map[string]json.RawMessage
		if json.Unmarshal(raw, &present) == nil {
			if bad := caseMismatch(t, present, ""); bad != "" {
				return invalidParams(bad)
			}
			if missing := missingRequired(fs, present); missing != "" {
				return invalidParams(fmt.Sprintf("missing required param %q", missing))
			}
		}
	}
	return nil
}

// isEmptyObject reports whether raw is {} (with any spacing): a method
// without params needs no decoder for it.
func isEmptyObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) >= 2 && raw[0] == '{' && raw[len(raw)-1] == '}' && len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0
}

// paramsInfo is what decoding needs to know of a params type, worked out
// once per type.
type paramsInfo struct {
	fields []rpc.ParamField
	// flat: no struct below the top level that encoding/json would decode
	// field by field (so unknown fields can only be top-level keys), at most
	// 64 fields, each field name one encoding/json knows, no two names equal
	// but for case. Params of a
	// flat type whose keys are all exact field names decode the same with
	// json.Unmarshal as with a decoder that refuses unknown fields, and have
	// no key in the wrong case at any depth.
	flat bool
}

// paramsByType caches paramsInfo per type: params are decoded on every
// call, and a type never changes.
var paramsByType sync.Map // reflect.Type -> *paramsInfo

func paramsOf(t reflect.Type) *paramsInfo {
	if pi, ok := paramsByType.Load(t); ok {
		return pi.(*paramsInfo)
	}
	pi := &paramsInfo{fields: rpc.StructFields(t)}
	pi.flat = t.Kind() == reflect.Struct && len(pi.fields) <= 64 && !reflect.PointerTo(t).Implements(unmarshalerType)
	for i, f := range pi.fields {
		pi.flat = pi.flat && !hasStructBelow(f.Type) && jsonKnowsField(t, f.Name)
		for _, g := range pi.fields[:i] {
			// caseMismatch would refuse a key for the other of the two.
			pi.flat = pi.flat && !strings.EqualFold(f.Name, g.Name)
		}
	}
	paramsByType.Store(t, pi)
	return pi
}

func paramFields(t reflect.Type) []rpc.ParamField { return paramsOf(t).fields }

// hasStructBelow reports whether decoding a value of t may decode a struct
// field by field (where unknown fields would be refused).
func hasStructBelow(t reflect.Type) bool {
	for {
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
			return false
		}
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			t = t.Elem()
		case reflect.Map:
			if hasStructBelow(t.Key()) {
				return true
			}
			t = t.Elem()
		case reflect.Struct:
			return true
		default:
			return false
		}
	}
}

// jsonKnowsField reports whether encoding/json decodes the key name (exactly)
// into a field of struct type t.
func jsonKnowsField(t reflect.Type, name string) bool {
	key, err := json.Marshal(name)
	if err != nil {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(append(append([]byte("{"), key...), ":null}"...)))
	dec.DisallowUnknownFields()
	return dec.Decode(reflect.New(t).Interface()) == nil
}

// decodeFlat decodes raw into ptr when the params type is flat and every key
// of raw is an exact field name; done is false when it did not try (the
// caller then takes the general path, which also names what is wrong).
func (pi *paramsInfo) decodeFlat(raw json.RawMessage, ptr any) (done bool, perr *rpc.Error) {
	if !pi.flat {
		return false, nil
	}
	var present, null uint64 // by field index; the last of a repeated key counts
	for m := jsonobj.Walk(raw); ; {
		k, v, ok := m.Next()
		if !ok {
			break
		}
		i := pi.exactField(k)
		if i < 0 {
			return false, nil
		}
		present |= 1 << i
		if string(v) == "null" {
			null |= 1 << i
		} else {
			null &^= 1 << i
		}
	}
	if err := json.Unmarshal(raw, ptr); err != nil {
		return true, invalidParams(describeDecodeError(err))
	}
	for i, f := range pi.fields {
		if f.Required && (present&(1<<i) == 0 || (null&(1<<i) != 0 && !nullable(f.Type))) {
			return true, invalidParams(fmt.Sprintf("missing required param %q", f.Name))
		}
	}
	return true, nil
}

// exactField is the index of the field named exactly by the raw key, or -1.
func (pi *paramsInfo) exactField(rawKey []byte) int {
	inner := rawKey[1 : len(rawKey)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		return -1 // rare: the general path unescapes it
	}
	for i, f := range pi.fields {
		if string(inner) == f.Name {
			return i
		}
	}
	return -1
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
