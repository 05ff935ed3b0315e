package jsonobj

import (
	"bytes"
	"encoding/json"
	"testing"
)

var samples = []string{
	`{}`,
	` { } `,
	`{"a":1}`,
	`{"a":1,"b":"x","c":null,"d":true,"e":false,"f":-1.5e3}`,
	` { "a" : [ 1 , { "b" : "}]" } ] , "c\"d" : "e\\\"" , "\u00e9" : {} } `,
	"{\"a\"\t:\n\"\\u0041\"\r,\"b\":[[],[[]]]}",
	`{"a":1,"a":2}`,
	`{"` + "\xff" + `":1}`,
	`{"x":{"y":{"z":[1,2,{"w":"{"}]}}}`,
}

// reference lists an object's members with encoding/json: keys decoded,
// values as written.
func reference(t *testing.T, obj []byte) (keys []string, values []string) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		keys, values = append(keys, k.(string)), append(values, string(v))
	}
	return keys, values
}

func check(t *testing.T, obj []byte) {
	keys, values := reference(t, obj)
	m := Walk(obj)
	for i := 0; ; i++ {
		k, v, ok := m.Next()
		if !ok {
			if i != len(keys) {
				t.Fatalf("%s: %d members, want %d", obj, i, len(keys))
			}
			return
		}
		if i >= len(keys) {
			t.Fatalf("%s: more than %d members", obj, len(keys))
		}
		if Key(k) != keys[i] || string(v) != values[i] {
			t.Fatalf("%s: member %d is %q (%s): %s, want %q: %s", obj, i, Key(k), k, v, keys[i], values[i])
		}
		if !KeyIs(k, keys[i]) {
			t.Fatalf("%s: KeyIs(%s, %q) is false", obj, k, keys[i])
		}
		if s, ok := String(v); ok {
			var want string
			if err := json.Unmarshal(v, &want); err != nil || s != want {
				t.Fatalf("String(%s) = %q, encoding/json %q (%v)", v, s, want, err)
			}
		} else if v[0] == '"' {
			t.Fatalf("String(%s) says it is not a string", v)
		}
	}
}

func TestWalkAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range samples {
		check(t, []byte(s))
	}
}

func FuzzWalkAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range samples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		if !json.Valid(obj) || bytes.TrimSpace(obj)[0] != '{' {
			return // Walk's contract
		}
		check(t, obj)
	})
}

// KeyIs matches as encoding/json matches a key to a field.
func TestKeyIsFoldsAsEncodingJSON(t *testing.T) {
	for _, c := range []struct {
		key  string
		name string
		want bool
	}{
		{`"method"`, "method", true},
		{`"METHOD"`, "method", true},
		{`"\u006Dethod"`, "method", true},
		{`"jſonrpc"`, "jsonrpc", true}, // U+017F folds to s
		{`"methods"`, "method", false},
		{`"meth"`, "method", false},
	} {
		if got := KeyIs([]byte(c.key), c.name); got != c.want {
			t.Errorf("KeyIs(%s, %q) = %v", c.key, c.name, got)
		}
		// encoding/json's own answer, through a struct with that field.
		obj := []byte(`{` + c.key + `:1}`)
		var env struct {
			Method  *int `json:"method"`
			JSONRPC *int `json:"jsonrpc"`
		}
		if err := json.Unmarshal(obj, &env); err != nil {
			t.Fatal(err)
		}
		matched := (c.name == "method" && env.Method != nil) || (c.name == "jsonrpc" && env.JSONRPC != nil)
		if matched != c.want {
			t.Errorf("encoding/json matches %s to %q: %v; the table says %v", c.key, c.name, matched, c.want)
		}
	}
}
