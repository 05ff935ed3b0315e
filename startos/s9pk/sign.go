package s9pk

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"

	"github.com/startos-go/startos/startos/errdefs"
)

// KeyFingerprint names an Ed25519 public key as SSH names host keys:
// "SHA256:" and the unpadded base64 of the SHA-256 of the key.
func KeyFingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// SignCommitment signs c as an archive header does (Ed25519ph, context
// "s9pk"); a registry lists this signature beside the archive's commitment.
func SignCommitment(key ed25519.PrivateKey, c Commitment) ([]byte, error) {
	return sign(key, c)
}

// VerifyCommitment checks a developer's signature over c with the strict
// checks archive headers get.
func VerifyCommitment(pub ed25519.PublicKey, sig []byte, c Commitment) error {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("commitment signature: want a %d-byte key and a %d-byte signature: %w", ed25519.PublicKeySize, ed25519.SignatureSize, errdefs.ErrInvalidSignature)
	}
	if err := verifySignature(pub, sig, c); err != nil {
		return fmt.Errorf("commitment signature: %v: %w", err, errdefs.ErrInvalidSignature)
	}
	return nil
}

// SignMessage signs msg with Ed25519ph (SHA-512 prehash) under context, the
// scheme archive headers use, for other signed documents (registry indexes).
func SignMessage(key ed25519.PrivateKey, context string, msg []byte) ([]byte, error) {
	d := sha512.Sum512(msg)
	return key.Sign(nil, d[:], &ed25519.Options{Hash: crypto.SHA512, Context: context})
}

// VerifyMessage checks a SignMessage signature with the strict checks
// archive headers get (no small-order key or R, canonical key encoding).
func VerifyMessage(pub ed25519.PublicKey, context string, msg, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("want a %d-byte key and a %d-byte signature: %w", ed25519.PublicKeySize, ed25519.SignatureSize, errdefs.ErrInvalidSignature)
	}
	d := sha512.Sum512(msg)
	if err := verifyStrict(pub, d[:], sig, &ed25519.Options{Hash: crypto.SHA512, Context: context}); err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidSignature)
	}
	return nil
}
