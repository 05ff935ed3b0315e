package apidoc

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

var (
	emptyType      = reflect.TypeFor[model.Empty]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	marshalerType  = reflect.TypeFor[json.Marshaler]()
	timeType       = reflect.TypeFor[time.Time]()
)

// Schema is the subset of JSON Schema (draft 2020-12, as OpenRPC 1.3 uses)
// the OpenRPC document uses.
type Schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Type                 any                `json:"type,omitempty"` // a type name, or a list of them
	OneOf                []*Schema          `json:"oneOf,omitempty"`
	Format               string             `json:"format,omitempty"`
	Minimum              *int               `json:"minimum,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties any                `json:"additionalProperties,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
}

// orNull is s that also admits null: ["T", "null"] for a plain type, oneOf
// for a reference (a $ref takes no sibling keywords), s itself for "any".
func orNull(s *Schema) *Schema {
	switch t := s.Type.(type) {
	case string:
		cp := *s
		cp.Type = []string{t, "null"}
		return &cp
	case nil:
		if s.Ref == "" && s.OneOf == nil {
			return s // the empty schema admits null already
		}
	default:
		return s // already a list; pointers to pointers add nothing
	}
	return &Schema{OneOf: []*Schema{s, {Type: "null"}}}
}

// schemaBuilder turns Go types into schemas, naming each struct once under
// components.schemas.
type schemaBuilder struct {
	defs map[string]*Schema
}

func (b *schemaBuilder) of(t reflect.Type) *Schema {
	if t.Kind() == reflect.Pointer {
		return orNull(b.of(t.Elem()))
	}
	switch {
	case t == rawMessageType || t.Kind() == reflect.Interface:
		return &Schema{}
	case t.Kind() == reflect.Struct && (t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType)):
		// Its JSON is its own (a config spec keeps its key order): free-form.
		return &Schema{}
	case t == timeType:
		return &Schema{Type: "string", Format: "date-time"}
	}
	zero := 0
	switch t.Kind() {
	case reflect.String:
		return &Schema{Type: "string"}
	case reflect.Bool:
		return &Schema{Type: "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &Schema{Type: "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &Schema{Type: "integer", Minimum: &zero}
	case reflect.Float32, reflect.Float64:
		return &Schema{Type: "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return &Schema{Type: "string", Format: "byte"}
		}
		return &Schema{Type: "array", Items: b.of(t.Elem())}
	case reflect.Map:
		return &Schema{Type: "object", AdditionalProperties: b.of(t.Elem())}
	case reflect.Struct:
		name := schemaName(t)
		if _, ok := b.defs[name]; !ok {
			s := &Schema{Type: "object", Properties: map[string]*Schema{}, AdditionalProperties: false}
			b.defs[name] = s // before recursing, for self-reference
			for _, f := range rpc.StructFields(t) {
				s.Properties[f.Name] = b.of(f.Type)
				if f.Required {
					s.Required = append(s.Required, f.Name)
				}
			}
		}
		return &Schema{Ref: "#/components/schemas/" + name}
	}
	return &Schema{}
}

// schemaName is a stable, readable name for a struct type, generic
// instantiations included ("StreamResult[LogPage]").
func schemaName(t reflect.Type) string {
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		args := name[i+1 : len(name)-1]
		var short []string
		for _, a := range strings.Split(args, ",") {
			short = append(short, a[strings.LastIndexAny(a, "./")+1:])
		}
		name = name[:i] + "[" + strings.Join(short, ",") + "]"
	}
	return name
}

// The OpenRPC 1.3 document types.
type openRPC struct {
	OpenRPC    string          `json:"openrpc"`
	Info       openRPCInfo     `json:"info"`
	Methods    []openRPCMethod `json:"methods"`
	Components struct {
		Schemas map[string]*Schema `json:"schemas"`
	} `json:"components"`
}

type openRPCInfo struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

type openRPCMethod struct {
	Name           string           `json:"name"`
	Summary        string           `json:"summary"`
	ParamStructure string           `json:"paramStructure"`
	Params         []openRPCContent `json:"params"`
	Result         openRPCContent   `json:"result"`
	Extensions     map[string]any   `json:"x-startos"`
}

type openRPCContent struct {
	Name     string  `json:"name"`
	Required bool    `json:"required,omitempty"`
	Schema   *Schema `json:"schema"`
}

// OpenRPC builds the OpenRPC 1.3 document (what rpc.discover answers) of
// the methods.
func OpenRPC(methods []*rpc.Method) json.RawMessage {
	b := &schemaBuilder{defs: map[string]*Schema{}}
	doc := openRPC{OpenRPC: "1.3.2", Info: openRPCInfo{Title: "StartOS", Version: rpc.APIVersion}}
	for _, m := range methods {
		om := openRPCMethod{
			Name: m.Name, Summary: m.Doc, ParamStructure: "by-name", Params: []openRPCContent{},
			Extensions: map[string]any{"auth": !m.Public, "mutates": m.Mutates},
		}
		for _, f := range m.ParamFields() {
			om.Params = append(om.Params, openRPCContent{Name: f.Name, Required: f.Required, Schema: b.of(f.Type)})
		}
		result := b.of(m.Result)
		if m.Result == emptyType {
			result = &Schema{Type: "null"}
		}
		if m.Streaming() {
			result = &Schema{Type: "object", Required: []string{"subscription", "value"}, Properties: map[string]*Schema{
				"subscription": {Type: "string"}, "value": result,
			}}
			om.Extensions["notification"] = m.Notification
			om.Extensions["item"] = b.of(m.Item)
		}
		om.Result = openRPCContent{Name: "result", Schema: result}
		doc.Methods = append(doc.Methods, om)
	}
	doc.Components.Schemas = b.defs
	out, err := json.Marshal(doc)
	if err != nil {
		panic("rpc: openrpc document: " + err.Error())
	}
	return out
}
