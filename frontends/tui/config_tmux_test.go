package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/config"
	"github.com/startos-go/startos/startos/model"
)

// TestConfigFormAndPropertiesInTmux: a package with a config spec of every
// value type, installed on the real engine, is needs-config; the console's
// form (e on its page) validates as you type and names the bad value, hides
// masked values until revealed, and saves; the package then starts; its
// Properties view hides the masked password and c copies it (OSC 52, into
// a tmux buffer).
func TestConfigFormAndPropertiesInTmux(t *testing.T) {
	requireTools(t, "tmux")
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

	bins := t.TempDir()
	tui := goBuild(t, bins, "start-tui", ".")
	startdBin := goBuild(t, bins, "startd", "../daemon")
	data := t.TempDir()
	d := testdaemon.RunStartd(t, startdBin, data)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+d.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(ctx, "setup.execute", model.SetupParams{Password: "correct horse", Name: "Config Box"}, nil); err != nil {
		t.Fatal(err)
	}
	installFile(t, ctx, c, file)

	s := startTUI(t, "config", tui, d.Sock, 110, 45)
	s.run("set-option", "-g", "set-clipboard", "on")
	s.waitScreen("Config Box", "● live")
	s.keys("2")
	s.waitScreenFor(60*time.Second, "Test Package", "needs-config")
	s.keys("Enter")
	s.waitScreen("Test Package 0.1.0 ("+id+")", "e config")
	s.keys("s")
	s.waitScreen("needs config") // package.start refuses and says why

	s.keys("e")
	s.waitScreen("Config of Test Package", "Greeting", "Password", "Backend", "Users", "✓ valid")
	// Validation as you type: the pattern refuses capitals and "!".
	s.keys("BSpace", "BSpace", "BSpace", "BSpace", "BSpace")
	s.keys("-l", "Hi!")
	s.waitScreen("✗ greeting: does not match the pattern: lower-case letters and spaces")
	s.keys("BSpace", "BSpace", "BSpace")
	s.keys("-l", "hi tmux")
	s.waitScreen("✓ valid")
	// The password is masked until revealed.
	var res config.Res
	if err := c.Call(ctx, "package.config.get", model.PackageIDParams{ID: id}, &res); err != nil {
		t.Fatal(err)
	}
	s.keys("Tab")
	scr := s.waitScreen("•••")
	// A number out of its range, then fixed; a union's variant switched.
	s.keys("Tab", "Tab", "BSpace", "BSpace", "BSpace", "BSpace")
	s.keys("-l", "80")
	s.waitScreen("✗ port: 80 is outside the range [1024,65535]")
	s.keys("-l", "80")
	s.waitScreen("✓ valid")
	s.keys("C-r")
	s.waitScreen("Backend")
	writeScreenshot(t, "config-form", s.screen())
	if strings.Contains(scr, "hi tmux") == false {
		t.Fatalf("the greeting typed is not shown:\n%s", scr)
	}
	s.keys("C-s")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got config.Res
		if err := c.Call(ctx, "package.config.get", model.PackageIDParams{ID: id}, &got); err == nil && got.Config["greeting"] == "hi tmux" && got.Config["port"] == 8080.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctrl+s did not save the config:\n%s", s.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.waitScreen("Status stopped")

	s.keys("s")
	s.waitScreenFor(90*time.Second, "Status running")
	pw := "tmux-secret-1234"
	stats := filepath.Join(data, "volumes", id, "main", "start9", "stats.yaml")
	if err := os.WriteFile(stats, []byte(`{"version": 2, "data": {"Password": {"type": "string", "value": "`+pw+`", "masked": true, "copyable": true, "description": "The admin password"},
	  "Connection": {"type": "object", "value": {"Address": {"type": "string", "value": "http://box.local", "qr": true, "copyable": true}}}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s.keys("p")
	scr = s.waitScreen("Properties of Test Package", "Connection", "Address", "http://box.local", "Password", "(c copies, masked)", "••••••••••••")
	if strings.Contains(scr, pw) {
		t.Fatalf("a masked property is shown:\n%s", scr)
	}
	writeScreenshot(t, "properties", scr)
	s.keys("Down", "q")
	writeScreenshot(t, "properties-qr", s.waitScreen("Address", "(any key closes)", "▀▀▀▀▀▀▀"))
	s.keys("x")
	s.waitScreen("Properties of Test Package")
	s.keys("Down", "c")
	s.waitScreen("copied to the clipboard")
	deadline = time.Now().Add(10 * time.Second)
	for {
		out, _ := s.run("show-buffer")
		if strings.Contains(out, pw) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the copied password is not in tmux's buffer (%q):\n%s", out, s.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.keys("r")
	s.waitScreen(pw)
}

// writeScreenshot keeps a screen for a person to look at when
// STARTOS_SCREENSHOTS names a folder.
func writeScreenshot(t *testing.T, name, screen string) {
	if dir := os.Getenv("STARTOS_SCREENSHOTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(screen), 0o644); err != nil {
			t.Log(err)
		}
	}
}
