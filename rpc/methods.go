package rpc

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Method describes one entry of the method table: what a client, the CLI and
// the generated docs need to know about it. The table itself, with the
// library call behind each entry, is rpc/server's; Table here is generated
// from it (see table_gen.go).
type Method struct {
	Name    string // dotted StartOS name: "server.time"
	Doc     string // one line
	Public  bool   // answers without authentication
	Mutates bool   // changes the state document; answers carry its revision
	// Notification is, for a streaming method, the method name of the
	// notifications that carry its items; empty for a plain call.
	Notification string
	// GUIDKey is, for a streaming method called over plain HTTP, the key
	// its initial value goes under beside "guid" (StartOS's {metrics,
	// guid}); empty merges the value's fields with "guid".
	GUIDKey string
	// Cookie is what the HTTP transport does with the session cookie after
	// a successful call: set it from a LoginResult, or clear it.
	Cookie CookieEffect

	// CLI is the start-cli command path when it differs from the dotted
	// name, space-separated: "db watch" for db.subscribe.
	CLI string

	Params reflect.Type // params struct
	Result reflect.Type // result, or for a stream the initial value
	Item   reflect.Type // for a stream: the type of each notification's value
}

// Streaming reports whether the method opens a subscription.
func (m *Method) Streaming() bool { return m.Notification != "" }

// CookieEffect is what a successful call does to the session cookie over
// HTTP.
type CookieEffect uint8

const (
	CookieNone  CookieEffect = iota
	CookieSet                // set it from the LoginResult's token
	CookieClear              // clear it
)

// CommandPath is the start-cli command path of m: ["server", "time"].
func (m *Method) CommandPath() []string {
	if m.CLI != "" {
		return strings.Fields(m.CLI)
	}
	return strings.Split(m.Name, ".")
}

var byName = func() map[string]*Method {
	m := make(map[string]*Method, len(Table))
	for _, e := range Table {
		if err := CheckMethod(e); err != nil {
			panic(err)
		}
		if _, dup := m[e.Name]; dup {
			panic(fmt.Sprintf("rpc: method %q declared twice", e.Name))
		}
		m[e.Name] = e
	}
	return m
}()

// CheckMethod is the init-time validation of a table entry.
func CheckMethod(e *Method) error {
	if e.Name == "" || strings.Trim(e.Name, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return fmt.Errorf("rpc: bad method name %q", e.Name)
	}
	if e.Doc == "" || strings.Contains(e.Doc, "\n") {
		return fmt.Errorf("rpc: method %q needs a one-line doc", e.Name)
	}
	if e.Params.Kind() != reflect.Struct {
		return fmt.Errorf("rpc: method %q: params must be a struct, not %s", e.Name, e.Params)
	}
	return nil
}

// Lookup finds a method by name.
func Lookup(name string) (*Method, bool) {
	m, ok := byName[name]
	return m, ok
}

// Names lists every method name, sorted.
func Names() []string {
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParamField describes one JSON field of a params struct, for generated
// frontends such as the CLI and for the server's strict decoding.
type ParamField struct {
	Name     string       // JSON name
	Required bool         // no omitempty (or omitzero) in its tag
	Type     reflect.Type // Go type
	Kind     string       // the JSON type it decodes from: "string", "integer", ...
	Index    []int        // the Go field's index path
}

// ParamFields lists the method's params in declaration order.
func (m *Method) ParamFields() []ParamField { return StructFields(m.Params) }

// StructFields lists the JSON fields of struct type t in declaration order,
// following encoding/json's naming. A field is required unless its tag says
// omitempty or omitzero.
func StructFields(t reflect.Type) []ParamField {
	var out []ParamField
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
		out = append(out, ParamField{
			Name:     name,
			Required: !strings.Contains(","+opts+",", ",omitempty,") && !strings.Contains(","+opts+",", ",omitzero,"),
			Type:     f.Type,
			Kind:     JSONKind(f.Type),
			Index:    f.Index,
		})
	}
	return out
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	timeType       = reflect.TypeFor[time.Time]()
)

// JSONKind names the JSON type a Go type decodes from ("string",
// "integer", "array", ...), as ParamField.Kind does.
func JSONKind(t reflect.Type) string {
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
