package server_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// The document a StartOS 0.4 client reads: testdata/startos-shapes holds,
// per type of StartOS's generated bindings (sdk/base/lib/osBindings/*.ts at
// the seed commit), each field and its TypeScript type. A value matches when
// every declared field is present with a value of that type; fields we add
// beyond StartOS's are allowed (a client ignores them), absent ones are not.

const shapesDir = "testdata/startos-shapes"

// shapes loads every shape file: type name -> field -> type expression.
func shapes(t *testing.T) map[string]map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(shapesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no shape files in %s: %v", shapesDir, err)
	}
	out := map[string]map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]string
		if err := json.Unmarshal(b, &fields); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = fields
	}
	return out
}

// shapeChecker matches JSON values against type expressions:
// string | number | boolean | null | unknown | object | 'literal' | Name
// (a shape file) | T[] | {T} (a record of T) | (T) | A|B.
type shapeChecker struct{ types map[string]map[string]string }

// check returns every mismatch under path.
func (c shapeChecker) check(path, expr string, v any) []string {
	alts := splitTop(expr, '|')
	if len(alts) > 1 {
		var why []string
		for _, a := range alts {
			errs := c.check(path, a, v)
			if len(errs) == 0 {
				return nil
			}
			why = append(why, errs...)
		}
		// The nearest alternative's reasons would be best; all of them is
		// honest.
		return []string{fmt.Sprintf("%s: %s matches none of %s (%s)", path, brief(v), expr, strings.Join(why, "; "))}
	}
	expr = strings.TrimSpace(expr)
	switch {
	case strings.HasSuffix(expr, "[]"):
		arr, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %s is not an array (%s)", path, brief(v), expr)}
		}
		var errs []string
		for i, e := range arr {
			errs = append(errs, c.check(fmt.Sprintf("%s/%d", path, i), strings.TrimSuffix(expr, "[]"), e)...)
		}
		return errs
	case strings.HasPrefix(expr, "(") && strings.HasSuffix(expr, ")"):
		return c.check(path, expr[1:len(expr)-1], v)
	case strings.HasPrefix(expr, "{") && strings.HasSuffix(expr, "}"):
		obj, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %s is not an object (%s)", path, brief(v), expr)}
		}
		var errs []string
		for _, k := range sortedKeys(obj) {
			errs = append(errs, c.check(path+"/"+k, expr[1:len(expr)-1], obj[k])...)
		}
		return errs
	case strings.HasPrefix(expr, "'"):
		if s, ok := v.(string); !ok || s != strings.Trim(expr, "'") {
			return []string{fmt.Sprintf("%s: %s is not %s", path, brief(v), expr)}
		}
		return nil
	}
	var ok bool
	switch expr {
	case "unknown":
		return nil
	case "string":
		_, ok = v.(string)
	case "number":
		_, ok = v.(float64)
	case "boolean":
		_, ok = v.(bool)
	case "null":
		ok = v == nil
	case "object":
		_, ok = v.(map[string]any)
	default:
		fields, known := c.types[expr]
		if !known {
			return []string{fmt.Sprintf("%s: no shape file for type %q", path, expr)}
		}
		obj, isObj := v.(map[string]any)
		if !isObj {
			return []string{fmt.Sprintf("%s: %s is not an object (%s)", path, brief(v), expr)}
		}
		var errs []string
		for _, name := range sortedKeys(fields) {
			key, optional := strings.CutSuffix(name, "?")
			fv, present := obj[key]
			if !present {
				if !optional {
					errs = append(errs, fmt.Sprintf("%s/%s: missing (%s.%s: %s)", path, key, expr, key, fields[name]))
				}
				continue
			}
			errs = append(errs, c.check(path+"/"+key, fields[name], fv)...)
		}
		return errs
	}
	if !ok {
		return []string{fmt.Sprintf("%s: %s is not %s", path, brief(v), expr)}
	}
	return nil
}

// splitTop splits s at sep outside brackets and parentheses.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '{', '[':
			depth++
		case ')', '}', ']':
			depth--
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func brief(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// The checker itself: each kind of mismatch is caught, extras pass.
func TestShapeCheckerCatchesMismatches(t *testing.T) {
	c := shapeChecker{types: map[string]map[string]string{
		"T": {"a": "string", "b": "number|null", "c?": "boolean", "d": "{U}", "e": "('x'|'y')[]"},
		"U": {"u": "string"},
	}}
	good := map[string]any{"a": "s", "b": nil, "d": map[string]any{"k": map[string]any{"u": "v"}}, "e": []any{"x", "y"}, "extra": 1.0}
	if errs := c.check("", "T", good); len(errs) != 0 {
		t.Fatalf("a matching value was refused: %v", errs)
	}
	for name, edit := range map[string]func(m map[string]any){
		"missing field":       func(m map[string]any) { delete(m, "a") },
		"wrong type":          func(m map[string]any) { m["a"] = 1.0 },
		"null not allowed":    func(m map[string]any) { m["a"] = nil },
		"optional wrong type": func(m map[string]any) { m["c"] = "yes" },
		"record element":      func(m map[string]any) { m["d"] = map[string]any{"k": map[string]any{}} },
		"literal":             func(m map[string]any) { m["e"] = []any{"z"} },
	} {
		v := map[string]any{}
		b, _ := json.Marshal(good)
		_ = json.Unmarshal(b, &v)
		edit(v)
		if errs := c.check("", "T", v); len(errs) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

// The shape files are the ones named here; a file added or lost shows in
// testdata/startos-shapes.golden (go test -run ShapeFiles -update).
func TestShapeFilesGolden(t *testing.T) {
	got := strings.Join(sortedKeys(shapes(t)), "\n") + "\n"
	golden := filepath.Join("testdata", "startos-shapes.golden")
	// -update is the flag rpc's own golden tests define.
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("shape files changed:\n got %q\nwant %q\n(run go test -run ShapeFiles -update if intended)", got, want)
	}
}

// The real document, from a real daemon with a real package installed,
// decodes into StartOS's Public shape: every serverInfo and packageData
// field StartOS declares, of the right type, and ui as StartOS seeds it.
func TestDocumentHasStartOSShape(t *testing.T) {
	eng := testpkg.Engine(t)
	pkg := testpkg.Build(t, eng, testpkg.Options{Port: testpkg.FreePort(t), TCPPort: testpkg.FreePort(t), HelloInput: true})
	archive := filepath.Join(t.TempDir(), "pkg.s9pk")
	pkg.WriteArchive(t, archive)
	d := testdaemon.Start(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+d.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(ctx, "server.set-smtp", model.SMTPValue{Host: "127.0.0.1", Port: 2525, From: "box@example.org",
		Username: "box", Password: ptr("secret"), Security: model.SMTPSecurityStartTLS}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SideloadFile(ctx, model.SideloadParams{}, archive); err != nil {
		t.Fatal(err)
	}
	id := pkg.Manifest.ID

	// Durable state to wait for: the package installed, with its derived
	// fields and the LAN addresses in them.
	var doc map[string]any
	for {
		var dump struct {
			Value map[string]any `json:"value"`
		}
		if err := c.Call(ctx, "db.dump", model.DumpParams{}, &dump); err != nil {
			t.Fatal(err)
		}
		doc = dump.Value
		if ready(doc, id) {
			break
		}
		select {
		case <-ctx.Done():
			raw, _ := json.MarshalIndent(doc["packageData"], "", "  ")
			t.Fatalf("package %s never showed installed with its interfaces' addresses: %s", id, raw)
		case <-time.After(50 * time.Millisecond):
		}
	}

	check := shapeChecker{types: shapes(t)}
	if errs := check.check("/public", "Public", doc); len(errs) != 0 {
		t.Fatalf("the document is not StartOS's shape:\n%s", strings.Join(errs, "\n"))
	}
	if errs := check.check("/public/ui", "UiSeed", doc["ui"]); len(errs) != 0 {
		t.Fatalf("ui is not StartOS's seed:\n%s", strings.Join(errs, "\n"))
	}

	// What the fields say, beyond their types.
	si := doc["serverInfo"].(map[string]any)
	if pk, _ := si["pubkey"].(string); !strings.HasPrefix(pk, "ssh-ed25519 ") {
		t.Errorf("serverInfo.pubkey = %q, want the box's ssh-ed25519 key", pk)
	}
	if fp, _ := si["caFingerprint"].(string); len(fp) != 32*3-1 {
		t.Errorf("serverInfo.caFingerprint = %q, want the root CA's SHA-256 as 32 colon-separated bytes", fp)
	}
	if smtp := si["smtp"].(map[string]any); smtp["host"] != "127.0.0.1" || smtp["password"] != nil {
		t.Errorf("serverInfo.smtp = %v, want the settings with password null", smtp)
	}
	if ph := si["passwordHash"]; ph != "" {
		t.Errorf("serverInfo.passwordHash = %v, want \"\" (the hash stays private)", ph)
	}
	box := si["network"].(map[string]any)["host"].(map[string]any)["bindings"].(map[string]any)["80"].(map[string]any)
	avail := box["addresses"].(map[string]any)["available"].([]any)
	if len(avail) != 1 || avail[0].(map[string]any)["hostname"] != si["hostname"].(string)+".local" {
		t.Errorf("serverInfo.network.host addresses = %v, want <hostname>.local", avail)
	}
	e := doc["packageData"].(map[string]any)[id].(map[string]any)
	hello := e["actions"].(map[string]any)["hello"].(map[string]any)
	if hello["allowedStatuses"] != "only-running" || hello["hasInput"] != true || hello["visibility"] != "enabled" {
		t.Errorf("actions.hello = %v, want only-running, with input, enabled", hello)
	}
	if fail := e["actions"].(map[string]any)["fail"].(map[string]any); fail["allowedStatuses"] != "any" || fail["hasInput"] != false {
		t.Errorf("actions.fail = %v, want any, without input", fail)
	}
	main := e["serviceInterfaces"].(map[string]any)["main"].(map[string]any)
	if main["type"] != "ui" || main["addressInfo"].(map[string]any)["hostId"] != "main" || main["addressInfo"].(map[string]any)["internalPort"] != 8080.0 {
		t.Errorf("serviceInterfaces.main = %v, want a ui on host main, port 8080", main)
	}
	if peer := e["serviceInterfaces"].(map[string]any)["peer"].(map[string]any); peer["type"] != "api" {
		t.Errorf("serviceInterfaces.peer = %v, want an api", peer)
	}
	if tasks := e["tasks"].(map[string]any); len(tasks) != 0 {
		t.Errorf("tasks = %v, want none", tasks)
	}
}

// ready: the package is installed and both its interfaces are listed with
// a LAN address.
func ready(doc map[string]any, id string) bool {
	e, _ := doc["packageData"].(map[string]any)[id].(map[string]any)
	if e == nil {
		return false
	}
	if st, _ := e["stateInfo"].(map[string]any); st["state"] != "installed" {
		return false
	}
	hosts, _ := e["hosts"].(map[string]any)
	for _, h := range []string{"main", "peer"} {
		host, _ := hosts[h].(map[string]any)
		bindings, _ := host["bindings"].(map[string]any)
		n := 0
		for _, b := range bindings {
			addrs, _ := b.(map[string]any)["addresses"].(map[string]any)
			av, _ := addrs["available"].([]any)
			n += len(av)
		}
		if n == 0 {
			return false
		}
	}
	return true
}

func ptr[T any](v T) *T { return &v }

// StartOS's UI adds a marketplace with db.put.ui at /registries/<url>; that
// needs the seeded registries object. The seed also reaches a database an
// older build made, keeping what a user wrote: reopening adds only the keys
// the ui lacks.
func TestPutUIRegistryAndSeedOnReopen(t *testing.T) {
	dir := t.TempDir()
	d := testdaemon.Start(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dial := func(sock string) *rpc.Client {
		c, err := rpc.Dial(ctx, "unix://"+sock, rpc.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ui := func(c *rpc.Client) map[string]any {
		var dump struct {
			Value map[string]any `json:"value"`
		}
		if err := c.Call(ctx, "db.dump", model.DumpParams{Pointer: "/public/ui"}, &dump); err != nil {
			t.Fatal(err)
		}
		return dump.Value
	}
	c := dial(d.Sock)
	const url = "https://registry.example.org/"
	if err := c.Call(ctx, "db.put.ui", model.PutUIParams{Pointer: "/registries/https:~1~1registry.example.org~1", Value: json.RawMessage(`"Example Registry"`)}, nil); err != nil {
		t.Fatalf("db.put.ui at /registries/<url>: %v", err)
	}
	if got := ui(c)["registries"].(map[string]any); got[url] != "Example Registry" || got["https://registry.start9.com/"] != "Start9 Registry" {
		t.Fatalf("ui.registries = %v, want the seed plus %s", got, url)
	}

	// A ui as an older build left it: no seed keys but what the user set.
	if err := c.Call(ctx, "db.put.ui", model.PutUIParams{Pointer: "", Value: json.RawMessage(`{"name":"Mine","registries":{},"theme":"dark"}`)}, nil); err != nil {
		t.Fatal(err)
	}
	d.Stop()
	d = testdaemon.Start(t, dir)
	got := ui(dial(d.Sock))
	want := map[string]any{"name": "Mine", "registries": map[string]any{}, "theme": "dark",
		"startosRegistry": "https://registry.start9.com/", "snakeHighScore": 0.0}
	a, _ := json.Marshal(got) // map keys sorted: equal values, equal bytes
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Fatalf("ui after reopen = %s, want %s", a, b)
	}
}
