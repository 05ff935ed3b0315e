// Package ssh manages the owner's SSH public keys: it parses what a person
// pastes, refuses anything that is not exactly one plain public key line, and
// renders the authorized_keys file the box's sshd reads. The state document
// is the truth; the file is rewritten from it.
package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/startos-go/startos/internal/atomicfile"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// MaxKeyLen bounds a pasted key line. The largest plain key OpenSSH makes
// (RSA 16384 with a long comment) stays well below it.
const MaxKeyLen = 16 << 10

// Key is one authorized key as the document stores it.
type Key = model.StoredSSHKey

// Parse checks that input is exactly one public key line and returns it
// normalised. Each kind of wrong input gets its own message.
func Parse(input string, now time.Time) (Key, error) {
	if len(input) > MaxKeyLen {
		return Key{}, fmt.Errorf("ssh key: %d bytes is longer than the %d a public key line can be: %w", len(input), MaxKeyLen, errdefs.ErrInvalidRequest)
	}
	text := strings.TrimSpace(input)
	if text == "" {
		return Key{}, fmt.Errorf("ssh key: empty: %w", errdefs.ErrInvalidRequest)
	}
	if strings.Contains(text, "PRIVATE KEY") {
		return Key{}, fmt.Errorf("ssh key: this is a private key; paste the public key (the .pub file) and keep the private one secret: %w", errdefs.ErrInvalidRequest)
	}
	if strings.ContainsAny(text, "\r\n") {
		return Key{}, fmt.Errorf("ssh key: more than one line; add one key at a time: %w", errdefs.ErrInvalidRequest)
	}
	pub, comment, options, rest, err := xssh.ParseAuthorizedKey([]byte(text))
	if err != nil {
		return Key{}, fmt.Errorf("ssh key: not a valid public key line (want \"TYPE BASE64 [COMMENT]\"): %v: %w", err, errdefs.ErrInvalidRequest)
	}
	if len(rest) != 0 {
		return Key{}, fmt.Errorf("ssh key: more than one key; add one at a time: %w", errdefs.ErrInvalidRequest)
	}
	if len(options) != 0 {
		return Key{}, fmt.Errorf("ssh key: options (%s) are not accepted; paste the key alone: %w", strings.Join(options, ","), errdefs.ErrInvalidRequest)
	}
	if _, ok := pub.(*xssh.Certificate); ok {
		return Key{}, fmt.Errorf("ssh key: a certificate (%s) is not a public key; paste the key it certifies: %w", pub.Type(), errdefs.ErrInvalidRequest)
	}
	for _, r := range comment {
		if r < 0x20 || r == 0x7f {
			return Key{}, fmt.Errorf("ssh key: the comment holds a control character: %w", errdefs.ErrInvalidRequest)
		}
	}
	line := strings.TrimSuffix(string(xssh.MarshalAuthorizedKey(pub)), "\n")
	if comment != "" {
		line += " " + comment
	}
	return Key{SSHKey: model.SSHKey{
		Alg:         pub.Type(),
		Fingerprint: xssh.FingerprintSHA256(pub),
		Hostname:    comment,
		CreatedAt:   now.UTC(),
	}, Line: line}, nil
}

// Add returns keys with k added, refusing a key already present.
func Add(keys map[string]Key, k Key) (map[string]Key, error) {
	if _, dup := keys[k.Fingerprint]; dup {
		return nil, fmt.Errorf("ssh key %s: %w", k.Fingerprint, errdefs.ErrDuplicate)
	}
	out := make(map[string]Key, len(keys)+1)
	for fp, v := range keys {
		out[fp] = v
	}
	out[k.Fingerprint] = k
	return out, nil
}

// List is keys oldest first, fingerprint breaking ties, so the order is stable.
func List(keys map[string]Key) []Key {
	out := make([]Key, 0, len(keys))
	for _, k := range keys {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].Fingerprint < out[j].Fingerprint
	})
	return out
}

// Render is the authorized_keys content for keys.
func Render(keys map[string]Key) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by startd from its state; edits here are replaced. Use `start-cli ssh add`.\n")
	for _, k := range List(keys) {
		b.WriteString(k.Line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// WriteFile replaces path with keys' authorized_keys, atomically, creating
// its directory (0700, as sshd's StrictModes wants) when missing, but not
// the directories above it: a missing home is a configuration error. With
// no keys and no file yet it writes nothing, so a daemon that never had
// keys leaves the filesystem alone.
func WriteFile(path string, keys map[string]Key) error {
	if path == "" {
		return errors.New("ssh: no authorized_keys path configured")
	}
	if len(keys) == 0 {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("ssh: %w: %v", errdefs.ErrFilesystem, err)
	}
	if err := atomicfile.Write(path, Render(keys), 0o600); err != nil {
		return fmt.Errorf("ssh: write %s: %w: %v", path, errdefs.ErrFilesystem, err)
	}
	return nil
}
