package install

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/s9pk"
)

// KeyFingerprint names a developer key as SSH names host keys:
// "SHA256:" and the unpadded base64 of the SHA-256 of the public key.
func KeyFingerprint(pub ed25519.PublicKey) string { return s9pk.KeyFingerprint(pub) }

// devKeyFingerprint is the fingerprint of a packageData developerKey
// ("ed25519:<base64>"), or "" when it does not read.
func devKeyFingerprint(devKey string) string {
	b64, ok := strings.CutPrefix(devKey, "ed25519:")
	if !ok {
		return ""
	}
	pub, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return ""
	}
	return KeyFingerprint(pub)
}

// checkPin refuses a package signed by another key than the one pinned for
// its id, unless the owner allowed exactly that new key.
func checkPin(id, pinned, got, allow string) error {
	if pinned == "" || pinned == got {
		return nil
	}
	if allow == got {
		return nil
	}
	if allow != "" {
		return fmt.Errorf("package %s is signed by developer key %s, not by %s that the key change allows (the installed package's key is %s): %w",
			id, got, allow, pinned, errdefs.ErrInvalidSignature)
	}
	return fmt.Errorf("package %s was installed from developer key %s; this package is signed by another key, %s. "+
		"If you trust the new publisher, install again allowing the key change (start-cli package install --allow-key-change %s, or allowKeyChange in package.install / package.sideload): %w",
		id, pinned, got, got, errdefs.ErrInvalidSignature)
}
