package ssh

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

func newEd25519(t *testing.T) (xssh.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := xssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp, priv
}

func authLine(k xssh.PublicKey, comment string) string {
	return strings.TrimSpace(string(xssh.MarshalAuthorizedKey(k))) + " " + comment
}

func TestParse(t *testing.T) {
	edPub, edPriv := newEd25519(t)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, _ := xssh.NewPublicKey(&ecPriv.PublicKey)
	signer, _ := xssh.NewSignerFromKey(edPriv)
	cert := &xssh.Certificate{Key: ecPub, CertType: xssh.UserCert, ValidPrincipals: []string{"me"}, ValidBefore: xssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	privPEM, err := xssh.MarshalPrivateKey(edPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	good := authLine(edPub, "me@laptop")
	tests := []struct {
		name, in string
		wantErr  string // substring; "" means accepted
	}{
		{"ed25519 with comment", good, ""},
		{"ecdsa without comment", strings.TrimSpace(string(xssh.MarshalAuthorizedKey(ecPub))), ""},
		{"surrounding whitespace", "  \n" + good + "\n", ""},
		{"empty", "   ", "empty"},
		{"garbage", "hello world", "not a valid public key line"},
		{"truncated base64", good[:40], "not a valid public key line"},
		{"options", `command="/bin/sh",no-pty ` + good, "options"},
		{"certificate", authLine(cert, "cert"), "certificate"},
		{"private key", string(pem.EncodeToMemory(privPEM)), "private key"},
		{"two keys", good + "\n" + good, "more than one line"},
		{"one megabyte", strings.Repeat("A", 1<<20), "longer than"},
		{"control character in comment", good + "\x1b[2J", "control character"},
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse(tt.in, now)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !strings.HasPrefix(k.Fingerprint, "SHA256:") || k.Alg == "" || !k.CreatedAt.Equal(now) {
					t.Fatalf("key = %+v", k)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, errdefs.ErrInvalidRequest) {
				t.Fatalf("err = %v, want one containing %q wrapping ErrInvalidRequest", err, tt.wantErr)
			}
		})
	}
	k, err := Parse(good, now)
	if err != nil {
		t.Fatal(err)
	}
	if k.Hostname != "me@laptop" || k.Alg != "ssh-ed25519" || k.Fingerprint != xssh.FingerprintSHA256(edPub) {
		t.Fatalf("key = %+v", k)
	}
}

func TestAddRefusesDuplicateByFingerprint(t *testing.T) {
	pub, _ := newEd25519(t)
	a, err := Parse(authLine(pub, "first"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(authLine(pub, "same key, other comment"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := Add(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Add(keys, b); !errors.Is(err, errdefs.ErrDuplicate) {
		t.Fatalf("second add: %v, want ErrDuplicate", err)
	}
	if len(keys) != 1 {
		t.Fatalf("keys = %v", keys)
	}
}

// TestWrittenFileAcceptedBySSHD writes authorized_keys and checks it the way
// the box's sshd and ssh-keygen read it.
func TestWrittenFileAcceptedBySSHD(t *testing.T) {
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Fatalf("ssh-keygen not installed (openssh-client): %v", err)
	}
	if _, err := os.Stat(sshd); err != nil {
		t.Fatalf("sshd not installed (Debian's openssh-server; `just test` installs it): %v", err)
	}
	dir := t.TempDir()
	keys := map[string]model.StoredSSHKey{}
	var want []string
	for i := 0; i < 3; i++ {
		pub, _ := newEd25519(t)
		k, err := Parse(authLine(pub, "key"+string(rune('a'+i))), time.Now().Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if keys, err = Add(keys, k); err != nil {
			t.Fatal(err)
		}
		want = append(want, k.Fingerprint)
	}
	path := filepath.Join(dir, "home", ".ssh", "authorized_keys")
	if err := os.Mkdir(filepath.Join(dir, "home"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, keys); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v %v", fi, err)
	}

	out, err := exec.Command(keygen, "-l", "-E", "sha256", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v\n%s", err, out)
	}
	for _, fp := range want {
		if !strings.Contains(string(out), fp) {
			t.Errorf("ssh-keygen -l does not list %s:\n%s", fp, out)
		}
	}

	hostKey := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("host key: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "sshd_config")
	cfg := "HostKey " + hostKey + "\nAuthorizedKeysFile " + path + "\nPidFile " + filepath.Join(dir, "sshd.pid") + "\nStrictModes no\nPasswordAuthentication no\n"
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd -t needs its privilege-separation directory to exist.
	_ = os.MkdirAll("/run/sshd", 0o755)
	if out, err := exec.Command(sshd, "-t", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	// -T with a connection spec shows the file sshd would read for a user.
	out, err = exec.Command(sshd, "-T", "-f", conf, "-C", "user=root,host=localhost,addr=127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("sshd -T: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "authorizedkeysfile "+path) {
		t.Fatalf("sshd does not read %s:\n%s", path, out)
	}
	// The check must be able to fail: sshd -t rejects a broken config.
	if err := os.WriteFile(conf, []byte(cfg+"NoSuchOption yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sshd, "-t", "-f", conf).CombinedOutput(); err == nil {
		t.Fatalf("sshd -t accepted a bad config:\n%s", out)
	}

	// Removing every key leaves a file with no key lines.
	if err := WriteFile(path, nil); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(keygen, "-l", "-f", path).CombinedOutput(); strings.Contains(string(out), "SHA256:") {
		t.Fatalf("emptied file still lists keys:\n%s", out)
	}
}
