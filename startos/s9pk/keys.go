package s9pk

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/startos-go/startos/startos/errdefs"
)

// DefaultKeyPath returns ~/.startos/developer.key.pem, where the developer key
// that signs packages lives.
func DefaultKeyPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home folder for the developer key: %w", err)
	}
	return filepath.Join(home, ".startos", "developer.key.pem"), nil
}

// GenerateKey returns a new Ed25519 developer key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	return key, err
}

// MarshalPrivateKey encodes key as a PKCS#8 PEM block ("PRIVATE KEY").
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey reads a PKCS#8 PEM Ed25519 key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("not a PEM \"PRIVATE KEY\" block: %w", errdefs.ErrInvalidRequest)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("invalid PKCS#8 key: %v: %w", err, errdefs.ErrInvalidRequest)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not Ed25519: %w", k, errdefs.ErrInvalidRequest)
	}
	return key, nil
}

// MarshalPublicKey encodes pub as an SPKI PEM block ("PUBLIC KEY"), the form
// StartOS prints and registries list signers by.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey reads an SPKI PEM Ed25519 key.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("not a PEM \"PUBLIC KEY\" block: %w", errdefs.ErrInvalidRequest)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("invalid public key: %v: %w", err, errdefs.ErrInvalidRequest)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not Ed25519: %w", k, errdefs.ErrInvalidRequest)
	}
	return pub, nil
}

// LoadKey reads the developer key at path. It refuses a key other users can
// read, as ssh does.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no developer key at %s (create one with `start-sdk key init`): %w", path, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading developer key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading developer key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("developer key %s is readable by others (mode %04o); run chmod 600 %s: %w", path, st.Mode().Perm(), path, errdefs.ErrUnauthorized)
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("reading developer key %s: %w", path, err)
	}
	key, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("developer key %s: %w", path, err)
	}
	return key, nil
}

// CreateKey generates a key and writes it to path with mode 0600, creating the
// folder with mode 0700. It refuses to replace an existing key.
func CreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	data, err := MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("a developer key already exists at %s: %w", path, errdefs.ErrDuplicate)
	}
	if err != nil {
		return nil, fmt.Errorf("creating developer key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("writing developer key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("writing developer key: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("writing developer key: %w", err)
	}
	return key, nil
}
