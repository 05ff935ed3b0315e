// Package auth decides who may talk to the box: the owner's password
// (argon2id), sessions, the login rate limit and local trust.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/startos-go/startos/startos/errdefs"
)

// Params are argon2id's cost parameters. The defaults suit a small box: about
// 0.1 s on a laptop core and under half a second on a Raspberry Pi 4, 64 MiB
// of memory per hash; see docs/auth.md.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams are used for new hashes. Stored hashes keep the parameters
// they were made with.
var DefaultParams = Params{Memory: 64 * 1024, Time: 2, Threads: 2}

// Password length rules, in characters. No rule on composition: length is
// what makes a password strong, and a long passphrase must never be cut.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 256
)

const (
	saltLen = 16
	keyLen  = 32
)

// hashSlots bounds concurrent hashes: each takes Params.Memory.
var hashSlots = make(chan struct{}, 2)

// hashing counts hashes in flight, so the last one to finish hands their
// memory back to the OS.
var hashing atomic.Int32

// CheckPassword applies the length rules.
func CheckPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("password: not valid UTF-8: %w", errdefs.ErrInvalidRequest)
	case n < MinPasswordLen:
		return fmt.Errorf("password: too short: use at least %d characters (got %d): %w", MinPasswordLen, n, errdefs.ErrInvalidRequest)
	case n > MaxPasswordLen:
		return fmt.Errorf("password: too long: use at most %d characters (got %d): %w", MaxPasswordLen, n, errdefs.ErrInvalidRequest)
	}
	return nil
}

// HashPassword checks the rules and returns the PHC-encoded argon2id hash:
// $argon2id$v=19$m=65536,t=2,p=2$<salt>$<key>.
func HashPassword(ctx context.Context, pw string, p Params) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := derive(ctx, pw, salt, p)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the encoded hash, in constant
// time. A wrong password is errdefs.ErrIncorrectPassword; a malformed hash is
// another error.
func VerifyPassword(ctx context.Context, encoded, pw string) error {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return err
	}
	got, err := derive(ctx, pw, salt, p)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return errdefs.ErrIncorrectPassword
	}
	return nil
}

func derive(ctx context.Context, pw string, salt []byte, p Params) ([]byte, error) {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-hashSlots }()
	hashing.Add(1)
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	if hashing.Add(-1) == 0 {
		// Each hash allocates Params.Memory (64 MiB) that is garbage once
		// it returns; left to the runtime, the heap stays grown to it for
		// minutes (152 MB RSS after setup and one login). A collection and
		// scavenge here costs a few milliseconds per login, and logins are
		// rate-limited.
		debug.FreeOSMemory()
	}
	return key, nil
}

var errBadHash = errors.New("stored password hash is malformed")

func decodeHash(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Params{}, nil, nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, errBadHash
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 4<<20 {
		return Params{}, nil, nil, errBadHash
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	key, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) != keyLen {
		return Params{}, nil, nil, errBadHash
	}
	return p, salt, key, nil
}
