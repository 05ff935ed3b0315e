package apidoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/startos-go/startos/rpc"
)

// TestAPIDocIsCurrent fails when docs/api.md no longer matches the table.
func TestAPIDocIsCurrent(t *testing.T) {
	got, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatalf("read docs/api.md: %v (run: just docs)", err)
	}
	if !bytes.Equal(got, Markdown(rpc.Table)) {
		t.Fatal("docs/api.md is stale: run `just docs` and commit the result")
	}
}

// TestOpenRPCDocument checks the discover document lists every method with
// schemas for its params and result.
func TestOpenRPCDocument(t *testing.T) {
	var doc struct {
		OpenRPC string `json:"openrpc"`
		Methods []struct {
			Name   string `json:"name"`
			Params []struct {
				Name     string          `json:"name"`
				Required bool            `json:"required"`
				Schema   json.RawMessage `json:"schema"`
			} `json:"params"`
			Result struct {
				Schema json.RawMessage `json:"schema"`
			} `json:"result"`
		} `json:"methods"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenRPC(rpc.Table), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenRPC[:3] != "1.3" {
		t.Fatalf("openrpc version %q", doc.OpenRPC)
	}
	if len(doc.Methods) != len(rpc.Table) {
		t.Fatalf("%d methods in document, %d in table", len(doc.Methods), len(rpc.Table))
	}
	for i, m := range doc.Methods {
		if m.Name != rpc.Table[i].Name || len(m.Result.Schema) == 0 {
			t.Fatalf("method %d: %q (result schema %s)", i, m.Name, m.Result.Schema)
		}
		if m.Name == "echo" {
			if len(m.Params) != 1 || m.Params[0].Name != "message" || !m.Params[0].Required {
				t.Fatalf("echo params = %+v", m.Params)
			}
		}
	}
	if _, ok := doc.Components.Schemas["ServerTime"]; !ok {
		t.Fatalf("no ServerTime schema among %d", len(doc.Components.Schemas))
	}
}

// TestOpenRPCSchemasAreJSONSchema walks every schema in the discover document:
// each keyword is a JSON Schema keyword (no OpenAPI "nullable"), each type a
// JSON Schema type name, each $ref resolves, and a Go pointer admits null.
func TestOpenRPCSchemasAreJSONSchema(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenRPC(rpc.Table), &doc); err != nil {
		t.Fatal(err)
	}
	components := doc["components"].(map[string]any)["schemas"].(map[string]any)
	keywords := map[string]bool{"$ref": true, "type": true, "format": true, "minimum": true, "properties": true,
		"required": true, "additionalProperties": true, "items": true, "oneOf": true}
	typeNames := map[string]bool{"string": true, "boolean": true, "integer": true, "number": true, "array": true,
		"object": true, "null": true}
	nullable := 0
	var walk func(where string, s any)
	walk = func(where string, s any) {
		m, ok := s.(map[string]any)
		if !ok {
			if _, isBool := s.(bool); !isBool {
				t.Errorf("%s: schema is %T, want an object or a boolean", where, s)
			}
			return
		}
		for k, v := range m {
			if !keywords[k] {
				t.Errorf("%s: %q is not a JSON Schema keyword", where, k)
			}
			switch k {
			case "type":
				var names []any
				if list, ok := v.([]any); ok {
					names = list
				} else {
					names = []any{v}
				}
				for _, n := range names {
					if name, _ := n.(string); !typeNames[name] {
						t.Errorf("%s: type %v", where, v)
					}
					if n == "null" {
						nullable++
					}
				}
			case "$ref":
				ref, _ := v.(string)
				name, ok := strings.CutPrefix(ref, "#/components/schemas/")
				if _, found := components[name]; !ok || !found {
					t.Errorf("%s: $ref %q does not resolve", where, ref)
				}
				if len(m) != 1 {
					t.Errorf("%s: $ref with siblings %v", where, m)
				}
			case "properties":
				for name, p := range v.(map[string]any) {
					walk(where+"."+name, p)
				}
			case "items", "additionalProperties":
				walk(where+"/"+k, v)
			case "oneOf":
				for i, alt := range v.([]any) {
					walk(fmt.Sprintf("%s/oneOf/%d", where, i), alt)
				}
			}
		}
	}
	for name, s := range components {
		walk(name, s)
	}
	for _, m := range doc["methods"].([]any) {
		mm := m.(map[string]any)
		for _, p := range mm["params"].([]any) {
			walk(mm["name"].(string)+"("+p.(map[string]any)["name"].(string)+")", p.(map[string]any)["schema"])
		}
		walk(mm["name"].(string)+" result", mm["result"].(map[string]any)["schema"])
	}
	if nullable == 0 {
		t.Error("no schema admits null, yet the model has pointer fields")
	}
}

func TestOrNull(t *testing.T) {
	for _, c := range []struct {
		in   *Schema
		want string
	}{
		{&Schema{Type: "string"}, `{"type":["string","null"]}`},
		{&Schema{Ref: "#/components/schemas/X"}, `{"oneOf":[{"$ref":"#/components/schemas/X"},{"type":"null"}]}`},
		{&Schema{}, `{}`},
	} {
		b, err := json.Marshal(orNull(c.in))
		if err != nil || string(b) != c.want {
			t.Errorf("orNull(%+v) = %s, %v; want %s", c.in, b, err, c.want)
		}
	}
}
