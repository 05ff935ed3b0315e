// Package apidoc renders what is generated from the method table: the
// OpenRPC document (rpc.discover), the Markdown reference (docs/api.md) and
// rpc.Table itself (rpc/table_gen.go).
package apidoc

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"github.com/startos-go/startos/rpc"
)

// Markdown renders the API reference (docs/api.md) from the methods.
func Markdown(methods []*rpc.Method) []byte {
	var b bytes.Buffer
	b.WriteString("# StartOS RPC API reference\n\n")
	b.WriteString("Generated from the method table by `just docs`; do not edit by hand. The wire protocol is in\n")
	b.WriteString("[rpc.md](rpc.md). Params are named (a JSON object); a param marked optional may be left out.\n\n")
	b.WriteString("| method | auth | mutates | streams | summary |\n|---|---|---|---|---|\n")
	for _, m := range methods {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s | %s |\n", m.Name, anchor(m.Name), yesNo(!m.Public, "session", "public"),
			yesNo(m.Mutates, "yes", ""), yesNo(m.Streaming(), "`"+m.Notification+"`", ""), m.Doc)
	}
	for _, m := range methods {
		fmt.Fprintf(&b, "\n## `%s`\n\n%s\n\n", m.Name, m.Doc)
		if m.Public {
			b.WriteString("Public: answers without authentication.\n\n")
		}
		if m.Mutates {
			b.WriteString("Mutates the state document: the answer carries the new revision (`X-Patch-Sequence`).\n\n")
		}
		fs := m.ParamFields()
		if len(fs) == 0 {
			b.WriteString("Params: none (`{}`).\n\n")
		} else {
			b.WriteString("| param | type | |\n|---|---|---|\n")
			for _, f := range fs {
				fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Name, typeName(f.Type), yesNo(f.Required, "required", "optional"))
			}
			b.WriteString("\n")
		}
		if m.Streaming() {
			fmt.Fprintf(&b, "Result: `{subscription, value}` where value is %s; then notifications `%s` with params\n"+
				"`{subscription, value}` where value is %s, and finally `rpc.end`.\n", typeName(m.Result), m.Notification, typeName(m.Item))
		} else {
			if m.Result == emptyType {
				b.WriteString("Result: `null`.\n")
			} else {
				fmt.Fprintf(&b, "Result: %s.\n", typeName(m.Result))
			}
		}
		cli := "start-cli " + strings.Join(m.CommandPath(), " ")
		for _, f := range fs {
			if f.Required {
				cli += " " + strings.ToUpper(f.Name)
			}
		}
		fmt.Fprintf(&b, "\nCLI: `%s`\n", cli)
	}
	return b.Bytes()
}

func anchor(name string) string {
	return strings.NewReplacer(".", "", " ", "-").Replace(strings.ToLower(name))
}

func yesNo(v bool, yes, no string) string {
	if v {
		return yes
	}
	return no
}

// typeName describes a Go type in JSON terms, naming structs and spelling out
// their fields one level deep.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == rawMessageType || t.Kind() == reflect.Interface:
		return "any JSON"
	case t == timeType:
		return "time (RFC 3339)"
	}
	switch t.Kind() {
	case reflect.Struct:
		fs := rpc.StructFields(t)
		if len(fs) == 0 {
			return "`{}`"
		}
		parts := make([]string, 0, len(fs))
		for _, f := range fs {
			opt := ""
			if !f.Required {
				opt = "?"
			}
			parts = append(parts, f.Name+opt+": "+shortType(f.Type))
		}
		return "`" + schemaName(t) + " {" + strings.Join(parts, ", ") + "}`"
	case reflect.Slice, reflect.Array:
		return "array of " + typeName(t.Elem())
	case reflect.Map:
		return "object of " + typeName(t.Elem())
	}
	return rpc.JSONKind(t)
}

func shortType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == rawMessageType || t.Kind() == reflect.Interface:
		return "any"
	case t == timeType:
		return "time"
	}
	switch t.Kind() {
	case reflect.Struct:
		return schemaName(t)
	case reflect.Slice, reflect.Array:
		return shortType(t.Elem()) + "[]"
	case reflect.Map:
		return "{[key]: " + shortType(t.Elem()) + "}"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return "integer"
}
