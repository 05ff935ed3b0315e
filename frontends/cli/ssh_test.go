package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	xssh "golang.org/x/crypto/ssh"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/startos/model"
)

func newPubLine(t *testing.T, comment string) (string, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := xssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(xssh.MarshalAuthorizedKey(k))) + " " + comment, xssh.FingerprintSHA256(k)
}

// TestSSHKeysThroughCLI adds keys from a line, a file and stdin, lists and
// removes them, and checks the authorized_keys file follows, including
// after a restart that finds the file gone.
func TestSSHKeysThroughCLI(t *testing.T) {
	dir := t.TempDir()
	d := testdaemon.Start(t, dir)
	jarPath = filepath.Join(t.TempDir(), "cookies.json")
	authCookie, stdinFile = "", nil
	authorized := filepath.Join(dir, "ssh", "authorized_keys")

	lineA, fpA := newPubLine(t, "from-arg")
	lineB, fpB := newPubLine(t, "from-file")
	lineC, fpC := newPubLine(t, "from-stdin")
	pubFile := filepath.Join(t.TempDir(), "id.pub")
	if err := os.WriteFile(pubFile, []byte(lineB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdin := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(stdin, []byte(lineC+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(stdin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	for _, args := range [][]string{{lineA}, {pubFile}} {
		if code, out, errs := cmd(t, append([]string{"--socket", d.Sock, "--format", "json", "ssh", "add"}, args...)...); code != 0 || !strings.Contains(out, "SHA256:") {
			t.Fatalf("ssh add %v: %d %q %q", args, code, out, errs)
		}
	}
	stdinFile = f
	code, out, errs := cmd(t, "--socket", d.Sock, "--format", "json", "ssh", "add", "-")
	stdinFile = nil
	var added model.SSHKey
	if code != 0 || json.Unmarshal([]byte(out), &added) != nil || added.Fingerprint != fpC || added.Hostname != "from-stdin" || added.Alg != "ssh-ed25519" {
		t.Fatalf("ssh add -: %d %q %q", code, out, errs)
	}
	if code, _, errs := cmd(t, "--socket", d.Sock, "ssh", "add", lineA); code == 0 || !strings.Contains(errs, "already exists") {
		t.Fatalf("duplicate accepted: %d %q", code, errs)
	}
	if code, _, errs := cmd(t, "--socket", d.Sock, "ssh", "add", `no-pty `+lineA); code == 0 || !strings.Contains(errs, "options") {
		t.Fatalf("options accepted: %d %q", code, errs)
	}

	code, out, _ = cmd(t, "--socket", d.Sock, "--format", "json", "ssh", "list")
	var keys []model.SSHKey
	if code != 0 || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 3 || keys[0].Fingerprint != fpA {
		t.Fatalf("ssh list: %d %q", code, out)
	}
	wantFile := func(present []string, absent []string) {
		t.Helper()
		b, err := os.ReadFile(authorized)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range present {
			if !strings.Contains(string(b), l) {
				t.Fatalf("authorized_keys lacks %q:\n%s", l, b)
			}
		}
		for _, l := range absent {
			if strings.Contains(string(b), l) {
				t.Fatalf("authorized_keys still has %q:\n%s", l, b)
			}
		}
	}
	wantFile([]string{lineA, lineB, lineC}, nil)

	if code, _, errs := cmd(t, "--socket", d.Sock, "ssh", "remove", fpB); code != 0 {
		t.Fatalf("ssh remove: %d %q", code, errs)
	}
	if code, _, errs := cmd(t, "--socket", d.Sock, "ssh", "remove", fpB); code != 1 || !strings.Contains(errs, "(6)") || !strings.Contains(errs, "no authorized SSH key") {
		t.Fatalf("removing an absent key: %d %q", code, errs)
	}
	wantFile([]string{lineA, lineC}, []string{lineB})

	// The document is the truth: a restart rewrites a lost or edited file.
	d.Stop()
	if err := os.WriteFile(authorized, []byte(lineB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testdaemon.Start(t, dir)
	wantFile([]string{lineA, lineC}, []string{lineB})
}

func TestSetNameAndHostname(t *testing.T) {
	d := startDaemon(t)
	if code, _, errs := cmd(t, "--socket", d.sock, "server", "set-name", "My Box"); code != 0 {
		t.Fatalf("set-name: %d %q", code, errs)
	}
	if code, _, errs := cmd(t, "--socket", d.sock, "server", "set-hostname", "my-box"); code != 0 {
		t.Fatalf("set-hostname: %d %q", code, errs)
	}
	code, out, _ := cmd(t, "--socket", d.sock, "--format", "json", "db", "dump", "--pointer", "/public/serverInfo")
	if code != 0 || !strings.Contains(out, `"name": "My Box"`) && !strings.Contains(out, `"name":"My Box"`) || !strings.Contains(out, "my-box") {
		t.Fatalf("serverInfo after set: %d %s", code, out)
	}
	for _, bad := range []string{"", "My-Box", "a.b", "bücher", "-a", "a-", strings.Repeat("a", 64), "a b"} {
		if code, _, errs := cmd(t, "--socket", d.sock, "server", "set-hostname", "--hostname", bad); code == 0 || !strings.Contains(errs, "hostname") {
			t.Errorf("hostname %q accepted: %d %q", bad, code, errs)
		}
	}
	for _, bad := range []string{"", " padded", "tab\tin", strings.Repeat("x", 65)} {
		if code, _, errs := cmd(t, "--socket", d.sock, "server", "set-name", "--name", bad); code == 0 || !strings.Contains(errs, "server name") {
			t.Errorf("name %q accepted: %d %q", bad, code, errs)
		}
	}
}
