package service

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/config"
	"github.com/startos-go/startos/startos/manifest"
)

// Every io-format StartOS 0.3 names round-trips a config through a
// procedure's stdin and stdout encodings; TOML leaves nulls out.
func TestIOFormatsRoundTrip(t *testing.T) {
	in := map[string]any{"greeting": "hi", "port": 8080.0, "on": true, "tags": []any{"a", "b"},
		"nested": map[string]any{"x": 1.5}}
	for _, f := range []manifest.IOFormat{"json", "json-pretty", "yaml", "cbor", "toml", "toml-pretty"} {
		b, err := encodeInput(f, in)
		if err != nil {
			t.Fatalf("%s: encode: %v", f, err)
		}
		var out map[string]any
		if err := decodeOutput(f, b, &out); err != nil {
			t.Fatalf("%s: decode: %v\n%s", f, err, b)
		}
		// YAML and TOML read 8080 back as an integer; compare as JSON does.
		js, err := outputJSON(f, b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var norm map[string]any
		if err := decodeOutput("yaml", js, &norm); err != nil {
			t.Fatalf("%s: the JSON form: %v", f, err)
		}
		if norm["greeting"] != "hi" || norm["on"] != true || !reflect.DeepEqual(norm["tags"], []any{"a", "b"}) ||
			norm["nested"].(map[string]any)["x"] != 1.5 {
			t.Errorf("%s: round trip %v", f, norm)
		}
	}
	if b, err := encodeInput("toml", map[string]any{"a": nil, "b": "x"}); err != nil || strings.Contains(string(b), "a") {
		t.Errorf("toml with a null: %q %v", b, err)
	}
	for _, tc := range []struct {
		f   manifest.IOFormat
		out string
	}{
		{"cbor", "\xff\xff"},
		{"cbor", "\xa1\x01\x02"}, // a map with an integer key
		{"toml", "a = = 1"},
		{"xml", "<a/>"},
	} {
		var v any
		if err := decodeOutput(tc.f, []byte(tc.out), &v); err == nil {
			t.Errorf("%s %q decoded: %v", tc.f, tc.out, v)
		}
	}
}

// Real packages whose config set and properties speak TOML and CBOR: the
// config arrives on stdin in that format, the properties are read from it.
func TestIOFormatsWithRealPackages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	assets := map[string]string{"spec.json": dockerSpec}
	for _, f := range []string{"toml", "cbor"} {
		id := e.adoptWithAssets(testpkg.Build(t, e.engine, testpkg.Options{Config: "docker", IOFormat: f, Assets: assets}), assets)
		if _, err := e.m.ConfigSet(ctx, id, config.Config{"greeting": "hello " + f, "password": "abc"}, false); err != nil {
			t.Fatalf("%s: config set: %v", f, err)
		}
		saved, err := os.ReadFile(filepath.Join(VolumePath(e.dataDir, id, "main"), "start9", "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := decodeOutput(manifest.IOFormat(f), saved, &got); err != nil || got["greeting"] != "hello "+f || json.Valid(saved) {
			t.Fatalf("%s: the config set read %q (%v)", f, saved, err)
		}
		props, err := e.m.Properties(ctx, id)
		if err != nil {
			t.Fatalf("%s: properties: %v", f, err)
		}
		if g := props.Data["Greeting"]; g.Value != "hi" || !g.Copyable || props.Version != 2 {
			t.Fatalf("%s: properties %+v", f, props)
		}
	}
}
