package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
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

func errEmptyRequest() *Error {
	return newError(CodeParseError, "Parse Error", "empty request: expected a JSON-RPC request object")
}

func errNotJSON() *Error { return newError(CodeParseError, "Parse Error", "request is not valid JSON") }

var emptyObject = json.RawMessage("{}")

// parseRequest validates one request object. On failure it returns the id it
// could read (nil when none) with the error, so the reply can still carry it.
func parseRequest(raw []byte) (*request, json.RawMessage, *Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil, newError(CodeInvalidRequest, "Invalid Request", "empty request")
	}
	if raw[0] != '{' {
		return nil, nil, newError(CodeInvalidRequest, "Invalid Request", "a request must be a JSON object")
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, nil, newError(CodeInvalidRequest, "Invalid Request", "malformed request object: "+err.Error())
	}
	var id json.RawMessage
	if env.ID != nil {
		if err := checkID(env.ID); err != nil {
			return nil, nil, newError(CodeInvalidRequest, "Invalid Request", err.Error())
		}
		id = env.ID
	}
	if env.JSONRPC != nil && string(env.JSONRPC) != `"2.0"` {
		return nil, id, newError(CodeInvalidRequest, "Invalid Request", `"jsonrpc" must be "2.0"`)
	}
	var method string
	if env.Method == nil || json.Unmarshal(env.Method, &method) != nil || method == "" {
		return nil, id, newError(CodeInvalidRequest, "Invalid Request", `"method" must be a non-empty string`)
	}
	params := env.Params
	switch {
	case params == nil || string(params) == "null":
		params = emptyObject
	case params[0] != '{':
		return nil, id, newError(CodeInvalidParams, "Invalid Params", "params must be a JSON object (named params)")
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
// field.
func decodeParams(m *Method, raw json.RawMessage) (any, *Error) {
	ptr := reflect.New(m.Params)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr.Interface()); err != nil {
		return nil, invalidParams(describeDecodeError(err))
	}
	if bad := caseMismatch(m.Params, raw, ""); bad != "" {
		return nil, invalidParams(bad)
	}
	if missing := missingRequired(m.Params, raw); missing != "" {
		return nil, invalidParams(fmt.Sprintf("missing required param %q", missing))
	}
	if v, ok := ptr.Interface().(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, invalidParams(err.Error())
		}
	}
	return ptr.Elem().Interface(), nil
}

func invalidParams(details string) *Error {
	return newError(CodeInvalidParams, "Invalid Params", details)
}

func describeDecodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("params: expected %s, got %s", jsonKind(te.Type), te.Value)
		}
		return fmt.Sprintf("param %q: expected %s, got %s", te.Field, jsonKind(te.Type), te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown param " + f
	}
	return strings.TrimPrefix(msg, "json: ")
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || t.Kind() == reflect.Interface {
		return "any JSON value"
	}
	if t == timeType {
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return t.String()
}

// field describes one JSON field of a params struct.
type field struct {
	Name     string
	Required bool
	Type     reflect.Type
	Index    []int
}

// fields lists the JSON fields of struct type t, following encoding/json's
// naming. A field is required unless its tag says omitempty.
func fields(t reflect.Type) []field {
	var out []field
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out = append(out, field{
			Name:     name,
			Required: !strings.Contains(","+opts+",", ",omitempty,") && !strings.Contains(","+opts+",", ",omitzero,"),
			Type:     f.Type,
			Index:    f.Index,
		})
	}
	return out
}

// nullable reports whether null is a meaningful value of t (any JSON, a
// pointer) rather than a stand-in for "absent".
func nullable(t reflect.Type) bool {
	return t == rawMessageType || t.Kind() == reflect.Interface || t.Kind() == reflect.Pointer
}

// caseMismatch finds a key of raw that names a field of struct type t only
// when case is ignored, as encoding/json would accept it: a param is matched
// by its exact name, so no two spellings reach the same field (a filter in
// front of the daemon cannot be dodged with "Password"). It looks into
// nested objects of plain struct fields too.
func caseMismatch(t reflect.Type, raw json.RawMessage, prefix string) string {
	var present map[string]json.RawMessage
	if t.Kind() != reflect.Struct || json.Unmarshal(raw, &present) != nil {
		return ""
	}
	keys := slices.Sorted(maps.Keys(present))
	fs := fields(t)
	for _, k := range keys {
		for _, f := range fs {
			switch {
			case f.Name == k:
				if ft := derefType(f.Type); ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(unmarshalerType) {
					if bad := caseMismatch(ft, present[k], prefix+k+"."); bad != "" {
						return bad
					}
				}
			case strings.EqualFold(f.Name, k):
				return fmt.Sprintf("unknown param %q: names are case-sensitive; did you mean %q?", prefix+k, prefix+f.Name)
			}
		}
	}
	return ""
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// missingRequired returns the first required field absent (or null) in raw.
func missingRequired(t reflect.Type, raw json.RawMessage) string {
	var present map[string]json.RawMessage
	if err := json.Unmarshal(raw, &present); err != nil {
		return ""
	}
	for _, f := range fields(t) {
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
