package rpc

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// TestAPIDocIsCurrent fails when docs/api.md no longer matches the table.
func TestAPIDocIsCurrent(t *testing.T) {
	got, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatalf("read docs/api.md: %v (run: just docs)", err)
	}
	if !bytes.Equal(got, Markdown()) {
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
	if err := json.Unmarshal(openRPCDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenRPC[:3] != "1.3" {
		t.Fatalf("openrpc version %q", doc.OpenRPC)
	}
	if len(doc.Methods) != len(Table) {
		t.Fatalf("%d methods in document, %d in table", len(doc.Methods), len(Table))
	}
	for i, m := range doc.Methods {
		if m.Name != Table[i].Name || len(m.Result.Schema) == 0 {
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
