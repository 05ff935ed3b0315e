package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/config"
	"github.com/startos-go/startos/startos/model"
)

// editorScript writes an $EDITOR that on its first run breaks the
// greeting (the pattern refuses it) and on its second checks the error is
// shown on top and fixes it.
func editorScript(t *testing.T) string {
	dir := t.TempDir()
	script := filepath.Join(dir, "editor.sh")
	body := `#!/bin/sh
set -e
n=$(cat "` + dir + `/count" 2>/dev/null || echo 0)
n=$((n+1))
echo $n > "` + dir + `/count"
cp "$1" "` + dir + `/seen-$n"
if [ $n = 1 ]; then
  sed -i 's/^greeting: hello$/greeting: Hi!/' "$1"
else
  sed -i 's/^greeting: Hi!$/greeting: hi there/' "$1"
fi
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// TestConfigThroughCLI: a package with the compat config form installed
// through start-cli is needs-config and refuses to start; config get shows
// the spec as comments; config edit with a scripted $EDITOR re-opens on an
// invalid value and then saves; config set reads stdin and names a bad
// value's path; the package then starts; properties print with masked
// values hidden.
func TestConfigThroughCLI(t *testing.T) {
	eng := testpkg.Engine(t)
	spec, err := os.ReadFile("../../startos/config/testdata/every-type.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pkg := testpkg.Build(t, eng, testpkg.Options{Config: "compat", Assets: map[string]string{"config_spec.yaml": string(spec)}})
	id := pkg.Manifest.ID
	t.Cleanup(func() { testpkg.Sweep(eng, id) })
	file := filepath.Join(t.TempDir(), id+".s9pk")
	pkg.WriteArchive(t, file)

	d := startDaemon(t)
	sock := []string{"--socket", d.sock}
	if code, out, errs := cmd(t, append(sock, "package", "install", "--quiet", file)...); code != 0 {
		t.Fatalf("install: %d %q %q", code, out, errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+d.sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitStatus := func(want, health string) {
		t.Helper()
		for {
			var list []model.PackageSummary
			if err := c.Call(ctx, "package.list", nil, &list); err != nil {
				t.Fatal(err)
			}
			for _, p := range list {
				if p.ID == id && p.Primary == want && (health == "" || p.Health == health) {
					return
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("package never reached %s/%s: %+v", want, health, list)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitStatus(model.StatusNeedsConfig, "")
	if code, _, errs := cmd(t, append(sock, "package", "start", id)...); code == 0 || !strings.Contains(errs, "needs config") {
		t.Fatalf("start before config: %d %q", code, errs)
	}

	code, out, errs := cmd(t, append(sock, "package", "config", "get", id)...)
	if code != 0 || !strings.Contains(out, "# Greeting (string): must be: lower-case letters and spaces") || !strings.Contains(out, "\ngreeting: hello\n") {
		t.Fatalf("config get: %d %q %q", code, out, errs)
	}

	t.Setenv("VISUAL", "")
	t.Setenv("EDITOR", editorScript(t))
	code, out, errs = cmd(t, append(sock, "package", "config", "edit", id)...)
	if code != 0 || !strings.Contains(out, "Saved the config of "+id) {
		t.Fatalf("config edit: %d %q %q", code, out, errs)
	}
	dir := filepath.Dir(os.Getenv("EDITOR"))
	second, err := os.ReadFile(filepath.Join(dir, "seen-2"))
	if err != nil {
		t.Fatalf("the editor was not opened again after the invalid value: %v", err)
	}
	if !strings.HasPrefix(string(second), "# Config of "+id) || !strings.Contains(string(second), "# ERROR: the config was not saved:") ||
		!strings.Contains(string(second), "greeting: does not match the pattern: lower-case letters and spaces") {
		t.Fatalf("the second edit does not show the error on top:\n%s", second)
	}
	if first, _ := os.ReadFile(filepath.Join(dir, "seen-1")); !strings.Contains(string(first), "# Password (string, masked)") {
		t.Fatalf("the first edit lacks the spec comments:\n%s", first)
	}
	var res config.Res
	if err := c.Call(ctx, "package.config.get", model.PackageIDParams{ID: id}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Config["greeting"] != "hi there" {
		t.Fatalf("config after edit: %v", res.Config)
	}
	waitStatus(model.DesiredStopped, "")

	t.Log("config set from standard input names a bad value's path")
	res.Config["port"] = 80
	bad, _ := json.Marshal(res.Config)
	stdin := filepath.Join(t.TempDir(), "stdin")
	os.WriteFile(stdin, bad, 0o600)
	f, err := os.Open(stdin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdinFile = f
	code, _, errs = cmd(t, append(sock, "package", "config", "set", id, "-")...)
	stdinFile = nil
	if code == 0 || !strings.Contains(errs, "port: 80 is outside the range [1024,65535]") || !strings.Contains(errs, "(4)") {
		t.Fatalf("config set of a bad value: %d %q", code, errs)
	}
	good := filepath.Join(t.TempDir(), "good.yaml")
	res.Config["port"] = 8443
	yml, _ := res.Spec.CommentedYAML(res.Config)
	os.WriteFile(good, yml, 0o600)
	if code, out, errs := cmd(t, append(sock, "package", "config", "set", id, good, "--dry-run")...); code != 0 || !strings.Contains(out, "dry run: nothing saved") {
		t.Fatalf("dry run: %d %q %q", code, out, errs)
	}
	if code, out, errs := cmd(t, append(sock, "package", "config", "set", id, good)...); code != 0 || !strings.Contains(out, "Saved") {
		t.Fatalf("config set: %d %q %q", code, out, errs)
	}

	if code, _, errs := cmd(t, append(sock, "package", "start", id)...); code != 0 {
		t.Fatalf("start after config: %q", errs)
	}
	waitStatus(model.DesiredRunning, model.HealthSuccess)

	t.Log("properties")
	if code, out, _ := cmd(t, append(sock, "package", "properties", id)...); code != 0 || !strings.Contains(out, "No properties.") {
		t.Fatalf("properties before stats.yaml: %q", out)
	}
	pw, _ := res.Config["password"].(string)
	stats := filepath.Join(d.lib.DataDir(), "volumes", id, "main", "start9", "stats.yaml")
	os.WriteFile(stats, []byte(`{"version": 2, "data": {"Password": {"type": "string", "value": "`+pw+`", "masked": true, "copyable": true, "description": "The admin password"},
	  "Connection": {"type": "object", "value": {"Port": {"type": "string", "value": "8443", "qr": true}}}}}`), 0o644)
	code, out, errs = cmd(t, append(sock, "package", "properties", id)...)
	want := "Connection:\n  Port: 8443  (qr)\nPassword: ********  (masked: --reveal shows it, copyable)\n  The admin password\n"
	if code != 0 || out != want {
		t.Fatalf("properties: %d %q %q, want %q", code, out, errs, want)
	}
	if code, out, _ := cmd(t, append(sock, "package", "properties", id, "--reveal")...); code != 0 || !strings.Contains(out, "Password: "+pw) {
		t.Fatalf("properties --reveal: %q", out)
	}
	if code, out, _ := cmd(t, append(sock, "--format", "json", "package", "properties", id)...); code != 0 || !strings.Contains(out, `"version": 2`) {
		t.Fatalf("properties json: %q", out)
	}
}
