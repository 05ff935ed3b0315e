// Package registry reads, writes and verifies signed package indexes: one
// JSON file any static file server can host, signed by the registry's
// Ed25519 key, with a sequence number and an expiry, listing for each package
// id the developer keys the registry trusts and, per version, what a
// marketplace shows and what an install checks (the archive's merkle
// commitment, the developer's signature over it, its URL).
//
// The threat model follows TUF: a host or mirror that can change bytes must
// not be able to make a box accept another registry's index (the key is
// pinned), an old index (the sequence never goes back: rollback), a stale one
// (the expiry: freeze), or an archive other than the one the index names (the
// commitment and trusted developer key: mix-and-match).
//
// Signatures reuse the archive scheme of package s9pk (Ed25519ph, strict
// verification), with the context "startos-registry-index".
package registry

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/s9pk"
)

// FormatVersion is the envelope format this package writes and reads.
const FormatVersion = 1

// SignatureContext is the Ed25519ph context of index signatures, so an
// index signature can never pass for an archive's, nor the reverse.
const SignatureContext = "startos-registry-index"

// IndexFile is the index's file name inside a registry folder and URL.
const IndexFile = "index.json"

// MaxIndexSize bounds an index a reader accepts: 10,000 packages with a few
// versions each fit well inside.
const MaxIndexSize = 64 << 20

// Bounds on the fields of one version, so a hostile index cannot make the
// box hold or show much.
const (
	maxTitle        = 200
	maxShort        = 500
	maxLong         = 20000
	maxReleaseNotes = 50000
	maxCategories   = 20
	maxCategoryLen  = 50
	maxURLLen       = 2048
	maxDevelopers   = 32
)

// Why an index was refused. Each also wraps an errdefs kind (ErrRegistry,
// or ErrInvalidSignature for a key or signature problem) for RPC codes.
var (
	ErrMalformed          = errors.New("malformed index")
	ErrTooLarge           = errors.New("index too large")
	ErrWrongKey           = errors.New("index signed by another key than the registry's pinned key")
	ErrBadSignature       = errors.New("index signature does not verify")
	ErrExpired            = errors.New("index expired")
	ErrRollback           = errors.New("index older than the one already seen (rollback)")
	ErrUntrustedDeveloper = errors.New("developer key not trusted for this package")
	ErrCommitmentMismatch = errors.New("archive differs from the index")
)

func fail(kind, class error, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %w", fmt.Sprintf(format, args...), kind, class)
}

// Envelope is the file: the signed body's exact bytes and their signature.
// The signature covers Signed as it appears in the file, so no canonical
// JSON form is needed.
type Envelope struct {
	Format    int             `json:"format"`
	Key       string          `json:"key"`       // the registry key, "ed25519:<base64>"
	Signature string          `json:"signature"` // base64 Ed25519ph signature of Signed
	Signed    json.RawMessage `json:"signed"`
}

// Index is the signed body.
type Index struct {
	Name     string    `json:"name,omitempty"`
	Sequence uint64    `json:"sequence"`
	IssuedAt time.Time `json:"issuedAt"`
	Expires  time.Time `json:"expires"`
	// Packages by id.
	Packages map[string]*Package `json:"packages"`
}

// Package is one package id in an index.
type Package struct {
	// Developers are the developer keys ("ed25519:<base64>") the registry
	// trusts to sign this id's archives.
	Developers []string `json:"developers"`
	// Versions by version string.
	Versions map[string]*Version `json:"versions"`
}

// Version is one published version of a package.
type Version struct {
	ID           string               `json:"id"`
	Version      string               `json:"version"`
	Title        string               `json:"title"`
	Description  manifest.Description `json:"description"`
	Categories   []string             `json:"categories,omitempty"`
	Icon         string               `json:"icon,omitempty"` // URL, relative to the index
	ReleaseNotes string               `json:"releaseNotes"`
	Arch         []string             `json:"arch"`
	OSVersion    string               `json:"osVersion,omitempty"` // the least OS version it runs on
	Size         int64                `json:"size"`
	Commitment   s9pk.Commitment      `json:"commitment"`
	DeveloperKey string               `json:"developerKey"` // "ed25519:<base64>"
	Signature    string               `json:"signature"`    // base64, the developer's over Commitment
	URL          string               `json:"url"`          // the archive, relative to the index or absolute http(s)
	PublishedAt  time.Time            `json:"publishedAt"`

	parsed manifest.Version
	devKey ed25519.PublicKey
}

// ParsedVersion is Version parsed (set by Verify).
func (v *Version) ParsedVersion() manifest.Version { return v.parsed }

// DeveloperPublicKey is DeveloperKey decoded (set by Verify).
func (v *Version) DeveloperPublicKey() ed25519.PublicKey { return v.devKey }

// EncodeKey writes a public key as "ed25519:<base64>", the form of the
// document's developerKey.
func EncodeKey(pub ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(pub)
}

// DecodeKey reads the form EncodeKey writes.
func DecodeKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(s, "ed25519:")
	if !ok {
		return nil, fmt.Errorf("key %q: want ed25519:<base64>", clip(s))
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("key %q: want %d bytes of base64", clip(s), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Fingerprint names a registry or developer key as SSH names host keys.
func Fingerprint(pub ed25519.PublicKey) string { return s9pk.KeyFingerprint(pub) }

// Sign writes idx as an index file signed with key.
func Sign(key ed25519.PrivateKey, idx *Index) ([]byte, error) {
	body, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	sig, err := s9pk.SignMessage(key, SignatureContext, body)
	if err != nil {
		return nil, err
	}
	// Compact: an indenting encoder would re-indent Signed and break it.
	out, err := json.Marshal(Envelope{
		Format:    FormatVersion,
		Key:       EncodeKey(key.Public().(ed25519.PublicKey)),
		Signature: base64.StdEncoding.EncodeToString(sig),
		Signed:    body,
	})
	return append(out, '\n'), err
}

// VerifyOptions say what an index must satisfy.
type VerifyOptions struct {
	// Key is the registry's pinned key; nil accepts the index's own key
	// (trust on first use: show the fingerprint to a person).
	Key ed25519.PublicKey
	// MinSequence refuses an index with a lower sequence (rollback).
	MinSequence uint64
	// SeenDigest, with MinSequence, refuses an index of that same sequence
	// whose body differs (a sequence reused for other contents).
	SeenDigest string
	// Now is the time the expiry is checked against; zero means time.Now.
	Now time.Time
	// AllowExpired skips the expiry check (a publisher re-signing its own
	// stale index).
	AllowExpired bool
	// DeveloperSignatures also checks every version's developer signature
	// (start-sdk index verify). The box checks the one it installs instead.
	DeveloperSignatures bool
	// MaxSize is the largest index accepted; default MaxIndexSize.
	MaxSize int64
}

// Verified is an index that passed Verify.
type Verified struct {
	*Index
	Key         ed25519.PublicKey
	Fingerprint string
	// Digest is the hex SHA-256 of the signed body: with Sequence it names
	// this exact index.
	Digest string
}

// Verify checks an index file: size, JSON, key, signature, expiry,
// sequence, then every entry's shape (ids, versions, trusted developer keys,
// URLs, bounds). Any problem refuses the whole index.
func Verify(data []byte, o VerifyOptions) (*Verified, error) {
	max := o.MaxSize
	if max <= 0 {
		max = MaxIndexSize
	}
	if int64(len(data)) > max {
		return nil, fail(ErrTooLarge, errdefs.ErrRegistry, "the index is %d bytes, over the %d-byte limit", len(data), max)
	}
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fail(ErrMalformed, errdefs.ErrRegistry, "reading the index envelope: %v", err)
	}
	if dec.More() {
		return nil, fail(ErrMalformed, errdefs.ErrRegistry, "trailing data after the index envelope")
	}
	if env.Format != FormatVersion {
		return nil, fail(ErrMalformed, errdefs.ErrRegistry, "index format %d: this box reads format %d", env.Format, FormatVersion)
	}
	pub, err := DecodeKey(env.Key)
	if err != nil {
		return nil, fail(ErrMalformed, errdefs.ErrRegistry, "index key: %v", err)
	}
	if o.Key != nil && !o.Key.Equal(pub) {
		return nil, fail(ErrWrongKey, errdefs.ErrInvalidSignature, "the index is signed by %s, the registry is pinned to %s", Fingerprint(pub), Fingerprint(o.Key))
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil {
		return nil, fail(ErrMalformed, errdefs.ErrRegistry, "index signature is not base64")
	}
	if err := s9pk.VerifyMessage(pub, SignatureContext, env.Signed, sig); err != nil {
		return nil, fail(ErrBadSignature, errdefs.ErrInvalidSignature, "the index says it is signed by %s, but the signature does not match its contents", Fingerprint(pub))
	}
	// Only signed bytes are parsed past this point.
	var idx Index
	bdec := json.NewDecoder(bytes.NewReader(env.Signed))
	bdec.DisallowUnknownFields()
	if err := bdec.Decode(&idx); err != nil {
		return nil, fail(ErrMalformed, errdefs.ErrRegistry, "reading the signed index: %v", err)
	}
	sum := sha256.Sum256(env.Signed)
	digest := fmt.Sprintf("%x", sum)
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if !o.AllowExpired && !now.Before(idx.Expires) {
		return nil, fail(ErrExpired, errdefs.ErrRegistry, "the index (sequence %d) expired at %s", idx.Sequence, idx.Expires.UTC().Format(time.RFC3339))
	}
	if idx.Sequence < o.MinSequence {
		return nil, fail(ErrRollback, errdefs.ErrRegistry, "the index has sequence %d, this box has already seen %d", idx.Sequence, o.MinSequence)
	}
	if idx.Sequence == o.MinSequence && o.SeenDigest != "" && o.SeenDigest != digest {
		return nil, fail(ErrRollback, errdefs.ErrRegistry, "the index reuses sequence %d for other contents", idx.Sequence)
	}
	if err := idx.check(o.DeveloperSignatures); err != nil {
		return nil, err
	}
	return &Verified{Index: &idx, Key: pub, Fingerprint: Fingerprint(pub), Digest: digest}, nil
}

func (idx *Index) check(devSigs bool) error {
	if idx.Packages == nil {
		idx.Packages = map[string]*Package{}
	}
	for id, p := range idx.Packages {
		bad := func(format string, args ...any) error {
			return fail(ErrMalformed, errdefs.ErrRegistry, "package %q: %s", clip(id), fmt.Sprintf(format, args...))
		}
		if !manifest.ValidID(id) {
			return bad("not a valid package id")
		}
		if p == nil {
			return bad("null entry")
		}
		if len(p.Developers) == 0 || len(p.Developers) > maxDevelopers {
			return bad("lists %d trusted developer keys, want 1 to %d", len(p.Developers), maxDevelopers)
		}
		trusted := make(map[string]bool, len(p.Developers))
		for _, k := range p.Developers {
			if _, err := DecodeKey(k); err != nil {
				return bad("trusted developer %v", err)
			}
			trusted[k] = true
		}
		for vs, v := range p.Versions {
			if v == nil {
				return bad("version %q: null entry", clip(vs))
			}
			if err := v.check(id, vs, trusted, devSigs); err != nil {
				kind, class := ErrMalformed, errdefs.ErrRegistry
				if errors.Is(err, ErrUntrustedDeveloper) {
					kind, class = ErrUntrustedDeveloper, errdefs.ErrInvalidSignature
				} else if errors.Is(err, errdefs.ErrInvalidSignature) {
					kind, class = ErrBadSignature, errdefs.ErrInvalidSignature
				}
				return fail(kind, class, "package %q version %q: %v", clip(id), clip(vs), err)
			}
		}
	}
	return nil
}

func (v *Version) check(id, key string, trusted map[string]bool, devSigs bool) error {
	pv, err := manifest.ParseVersion(key)
	if err != nil {
		return fmt.Errorf("not a version: %v", err)
	}
	if v.Version != key || pv.String() != key {
		return fmt.Errorf("listed under %q but says %q (want the canonical form %q)", key, clip(v.Version), pv.String())
	}
	if v.ID != id {
		return fmt.Errorf("says id %q", clip(v.ID))
	}
	switch {
	case v.Title == "" || len(v.Title) > maxTitle:
		return fmt.Errorf("title is empty or over %d bytes", maxTitle)
	case len(v.Description.Short) > maxShort, len(v.Description.Long) > maxLong:
		return fmt.Errorf("description over %d/%d bytes", maxShort, maxLong)
	case len(v.ReleaseNotes) > maxReleaseNotes:
		return fmt.Errorf("release notes over %d bytes", maxReleaseNotes)
	case len(v.Categories) > maxCategories:
		return fmt.Errorf("over %d categories", maxCategories)
	case v.Size <= 0:
		return fmt.Errorf("size %d: want the archive's size in bytes", v.Size)
	case v.Commitment.RootMaxSize == 0:
		return fmt.Errorf("no commitment")
	case len(v.Arch) == 0:
		return fmt.Errorf("no architectures")
	}
	for _, c := range v.Categories {
		if c == "" || len(c) > maxCategoryLen {
			return fmt.Errorf("category %q is empty or over %d bytes", clip(c), maxCategoryLen)
		}
	}
	for _, a := range v.Arch {
		if !manifest.ValidID(strings.ReplaceAll(a, "_", "-")) {
			return fmt.Errorf("architecture %q", clip(a))
		}
	}
	if v.OSVersion != "" {
		if _, err := manifest.ParseVersion(v.OSVersion); err != nil {
			return fmt.Errorf("osVersion %q: %v", clip(v.OSVersion), err)
		}
	}
	if err := checkURL(v.URL); err != nil {
		return fmt.Errorf("url: %v", err)
	}
	if v.Icon != "" {
		if err := checkURL(v.Icon); err != nil {
			return fmt.Errorf("icon: %v", err)
		}
	}
	if !trusted[v.DeveloperKey] {
		return fmt.Errorf("developer key %q is not among the package's trusted developers: %w", clip(v.DeveloperKey), ErrUntrustedDeveloper)
	}
	dev, err := DecodeKey(v.DeveloperKey)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(v.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("developer signature: want %d bytes of base64", ed25519.SignatureSize)
	}
	if devSigs {
		if err := s9pk.VerifyCommitment(dev, sig, v.Commitment); err != nil {
			return fmt.Errorf("developer %s: %w", Fingerprint(dev), err)
		}
	}
	v.parsed, v.devKey = pv, dev
	return nil
}

// checkURL accepts a relative path inside the registry (no "..", no
// absolute path) or an absolute http(s) URL.
func checkURL(s string) error {
	if s == "" || len(s) > maxURLLen {
		return fmt.Errorf("empty or over %d bytes", maxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %v", clip(s), err)
	}
	if u.Scheme == "" && u.Host == "" {
		if u.User != nil || strings.HasPrefix(u.Path, "/") || path.Clean(u.Path) != u.Path || strings.HasPrefix(u.Path, "..") {
			return fmt.Errorf("%q: a relative URL must be a clean path inside the registry", clip(s))
		}
		return nil
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q: want a relative path or an http(s) URL without credentials", clip(s))
	}
	return nil
}

// clip shortens hostile strings quoted in errors.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Resolve returns ref (a version's URL or icon) as an absolute URL against
// the index's URL.
func Resolve(indexURL, ref string) (string, error) {
	base, err := url.Parse(indexURL)
	if err != nil {
		return "", fmt.Errorf("index url %q: %v: %w", clip(indexURL), err, errdefs.ErrInvalidRequest)
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("url %q: %v: %w", clip(ref), err, errdefs.ErrRegistry)
	}
	return base.ResolveReference(u).String(), nil
}

func encodeSig(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
