package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// TestSettingsInTmux drives the Settings view in a real 80-column terminal
// against a real startd: the box is renamed and an SSH key added through
// the screen, and each is checked in the box's durable state (the state
// document, the authorized_keys file) before the screen is.
func TestSettingsInTmux(t *testing.T) {
	requireTools(t, "tmux")
	bins := t.TempDir()
	tui := goBuild(t, bins, "start-tui", ".")
	startdBin := goBuild(t, bins, "startd", "../daemon")
	data := t.TempDir()
	// Power commands that do nothing, should a key go astray.
	d := testdaemon.RunStartd(t, startdBin, data, "--restart-command", "/bin/true", "--shutdown-command", "/bin/true")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := rpc.Dial(ctx, "unix://"+d.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const oldName = "Settings Box"
	if err := c.Call(ctx, "setup.execute", model.SetupParams{Password: "correct horse", Name: oldName}, nil); err != nil {
		t.Fatal(err)
	}

	s := startTUI(t, "settings", tui, d.Sock, 80, 24)
	s.waitScreen(oldName, "● live")
	s.keys("7")
	// Every tab fits 80 columns, the seventh whole.
	s.waitScreen("[7 Settings]", "1 Home", "Name       "+oldName, "+ Add an SSH key", "Not set: notifications are not emailed")

	// Rename: enter on the name, erase it, type the new one.
	s.keys("Enter")
	s.waitScreen("Rename the box")
	for range len(oldName) {
		s.keys("BSpace")
	}
	s.keys("-l", "Attic")
	s.keys("Enter")
	waitState(t, ctx, c, "the new name", func(si model.ServerInfo) bool { return si.Name == "Attic" })
	s.waitScreen("Name       Attic")

	// Add a key: down to "+ Add an SSH key", paste the line.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " tmux@test"
	fp := ssh.FingerprintSHA256(pub)
	// One key at a time: letters that arrive together are one multi-rune
	// key, which moves nothing.
	s.keys("j")
	s.waitScreen("> Hostname")
	s.keys("j")
	s.waitScreen("> + Add an SSH key")
	s.keys("Enter")
	s.waitScreen("Add an SSH key", "Public key:")
	s.keys("-l", line)
	s.keys("Enter")
	// The key is in the private document (ssh.list) and then written to
	// authorized_keys, in that order: wait for both.
	keysFile := filepath.Join(data, "ssh", "authorized_keys")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list []model.SSHKey
		if err := c.Call(ctx, "ssh.list", model.Empty{}, &list); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(keysFile)
		if len(list) == 1 && list[0].Fingerprint == fp && list[0].Hostname == "tmux@test" && strings.Contains(string(b), strings.Fields(line)[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh.list = %+v, authorized_keys %q; want the key added in the console:\n%s", list, b, s.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
	scr := s.waitScreen("SSH keys", "ed25519", fp[:20], "tmux@test")
	t.Logf("the Settings view:\n%s", scr)
}
