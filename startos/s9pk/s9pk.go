// Package s9pk reads and writes signed package archives in the StartOS s9pk
// version 2 framing: a header (magic 3b 3b 02, Ed25519 public key, an Ed25519ph
// signature with context "s9pk" over the root of a BLAKE3 merkle tree of
// tables of contents), then the tables of contents and file bodies laid out
// breadth first, so manifest.json sits within the first few KiB.
//
// Byte layout (big-endian):
//
//	0    3   magic 3b 3b 02
//	3    32  Ed25519 public key
//	35   64  signature: Ed25519ph, context "s9pk", of SHA-512(root sighash ‖ u64 root max size)
//	99   32  root sighash (BLAKE3)
//	131  8   root max size: an upper bound on the root table of contents
//	139  8   root table of contents position
//	147  8   root table of contents size
//	155  ... tables of contents and file bodies
//
// A table of contents is varint(count), then per entry varstring(name),
// hash[32], u64 size, u8 type (0 missing, 1 file, 2 directory) and, for a file,
// u64 position, for a directory u64 position ‖ u64 size of its table. A file's
// hash is BLAKE3 of its contents; a directory's is its sighash: BLAKE3 of its
// table with every entry rewritten as missing, entries sorted by name.
//
// Readers verify before they trust: Open checks the signature and every table
// of contents before it returns, refusing oversized tables (1 MiB unless a
// commitment vouches for more) and hostile names; file contents are checked
// against their hashes before any byte is handed out. Verifier does the same
// for a stream, as an upload arrives.
package s9pk

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/startos-go/startos/startos/errdefs"
)

// Magic opens every archive: ";;" and format version 2.
var Magic = [3]byte{0x3b, 0x3b, 0x02}

// SignatureContext is the Ed25519ph context string of archive signatures.
const SignatureContext = "s9pk"

// HeaderSize is the size of the fixed header.
const HeaderSize = 3 + 32 + 64 + 32 + 8 + 8 + 8

// DefaultMaxTOCSize is the largest root table of contents a reader accepts
// without a commitment, so a hostile header cannot make it allocate much.
const DefaultMaxTOCSize = 1 << 20

// MaxNameLen bounds a name in a table of contents.
const MaxNameLen = 255

// Entry types in a table of contents.
const (
	typeMissing byte = 0
	typeFile    byte = 1
	typeDir     byte = 2
)

// Commitment pins an archive's contents: the root sighash and the root max
// size the signature covers. Registries publish it; a reader given one accepts
// only that archive, and may then allow a table of contents over 1 MiB.
type Commitment struct {
	RootSighash [32]byte
	RootMaxSize uint64
}

type commitmentJSON struct {
	RootSighash string `json:"rootSighash"`
	RootMaxsize uint64 `json:"rootMaxsize"`
}

// MarshalJSON writes {"rootSighash": base64, "rootMaxsize": n}, as StartOS does.
func (c Commitment) MarshalJSON() ([]byte, error) {
	return json.Marshal(commitmentJSON{RootSighash: base64.StdEncoding.EncodeToString(c.RootSighash[:]), RootMaxsize: c.RootMaxSize})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (c *Commitment) UnmarshalJSON(b []byte) error {
	var j commitmentJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	return c.set(j.RootSighash, j.RootMaxsize)
}

func (c *Commitment) set(sighash string, maxSize uint64) error {
	h, err := base64.StdEncoding.DecodeString(sighash)
	if err != nil || len(h) != 32 {
		return fmt.Errorf("invalid rootSighash %q: want 32 bytes of base64: %w", sighash, errdefs.ErrInvalidRequest)
	}
	copy(c.RootSighash[:], h)
	c.RootMaxSize = maxSize
	return nil
}

// Query returns the URL query form, rootSighash=…&rootMaxsize=….
func (c Commitment) Query() string {
	v := url.Values{}
	v.Set("rootSighash", base64.StdEncoding.EncodeToString(c.RootSighash[:]))
	v.Set("rootMaxsize", strconv.FormatUint(c.RootMaxSize, 10))
	return v.Encode()
}

// ParseCommitmentQuery reads the form Query writes.
func ParseCommitmentQuery(q string) (Commitment, error) {
	v, err := url.ParseQuery(q)
	if err != nil {
		return Commitment{}, fmt.Errorf("invalid commitment query: %v: %w", err, errdefs.ErrInvalidRequest)
	}
	n, err := strconv.ParseUint(v.Get("rootMaxsize"), 10, 64)
	if err != nil {
		return Commitment{}, fmt.Errorf("invalid rootMaxsize %q: %w", v.Get("rootMaxsize"), errdefs.ErrInvalidRequest)
	}
	var c Commitment
	err = c.set(v.Get("rootSighash"), n)
	return c, err
}

// digest is the Ed25519ph prehash: SHA-512 of the root sighash and max size.
func (c Commitment) digest() []byte {
	var msg [40]byte
	copy(msg[:32], c.RootSighash[:])
	binary.BigEndian.PutUint64(msg[32:], c.RootMaxSize)
	d := sha512.Sum512(msg[:])
	return d[:]
}

var signOpts = &ed25519.Options{Hash: crypto.SHA512, Context: SignatureContext}

func sign(key ed25519.PrivateKey, c Commitment) ([]byte, error) {
	return key.Sign(nil, c.digest(), signOpts)
}

// verifySignature checks strictly, as StartOS's verify_prehashed_strict does:
// besides the signature itself, neither the key nor the signature's R may be a
// point of small order, and the key must be canonically encoded.
func verifySignature(pub ed25519.PublicKey, sig []byte, c Commitment) error {
	return verifyStrict(pub, c.digest(), sig, signOpts)
}

func verifyStrict(pub ed25519.PublicKey, digest, sig []byte, opts *ed25519.Options) error {
	if smallOrder(pub) {
		return fmt.Errorf("public key is a point of small order")
	}
	if !canonicalY(pub) {
		return fmt.Errorf("public key is not canonically encoded")
	}
	if smallOrder(sig[:32]) {
		return fmt.Errorf("signature R is a point of small order")
	}
	if err := ed25519.VerifyWithOptions(pub, digest, sig, opts); err != nil {
		return fmt.Errorf("signature does not verify")
	}
	return nil
}

// smallOrderY holds the y coordinates (sign bit cleared) of the eight points of
// order dividing 8, plus the non-canonical encodings p and p+1 of 0 and 1.
var smallOrderY = func() [][32]byte {
	hexes := []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
		"0000000000000000000000000000000000000000000000000000000000000000", // order 4
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1
	}
	out := make([][32]byte, len(hexes))
	for i, h := range hexes {
		for j := range 32 {
			n, _ := strconv.ParseUint(h[2*j:2*j+2], 16, 8)
			out[i][j] = byte(n)
		}
	}
	return out
}()

func smallOrder(p []byte) bool {
	var y [32]byte
	copy(y[:], p)
	y[31] &= 0x7f
	for _, s := range smallOrderY {
		if y == s {
			return true
		}
	}
	return false
}

// canonicalY reports whether the encoded y is below p = 2^255 - 19.
func canonicalY(p []byte) bool {
	if p[31]&0x7f != 0x7f {
		return true
	}
	for i := 30; i > 0; i-- {
		if p[i] != 0xff {
			return true
		}
	}
	return p[0] < 0xed
}
