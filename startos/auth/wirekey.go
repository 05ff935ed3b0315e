package auth

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// WireKey decrypts passwords a client sends encrypted, StartOS's
// EncryptedWire: a JWE made with the box's public key (auth.get-pubkey,
// setup.get-pubkey) so a password typed into a page served over plain http
// never crosses the network readable. As in StartOS the key is an EC P-256
// key made afresh at every start and kept in memory only; the JWE uses
// direct key agreement, alg ECDH-ES, and one of the content encryptions
// below (the StartOS UI's node-jose makes A128CBC-HS256).
type WireKey struct {
	priv *ecdh.PrivateKey
}

// NewWireKey makes a fresh P-256 key.
func NewWireKey() (*WireKey, error) {
	k, err := ecdh.P256().GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	return &WireKey{priv: k}, nil
}

// WireKeyFrom wraps an existing private key (tests).
func WireKeyFrom(priv *ecdh.PrivateKey) *WireKey { return &WireKey{priv: priv} }

// Public is the public half as a JWK.
func (k *WireKey) Public() model.JWK {
	b := k.priv.PublicKey().Bytes() // 0x04 || X || Y, 32 bytes each
	return model.JWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(b[1:33]), Y: b64.EncodeToString(b[33:65])}
}

var b64 = base64.RawURLEncoding

// errBadJWE wraps every reason a JWE is refused; the caller learns what was
// wrong with its envelope, never anything about the plaintext.
var errBadJWE = errdefs.ErrInvalidRequest

func badJWE(format string, a ...any) error {
	return fmt.Errorf("encrypted password: "+format+": %w", append(a, errBadJWE)...)
}

// jweHeader is the part of the JOSE header this decrypter reads.
type jweHeader struct {
	Alg string          `json:"alg"`
	Enc string          `json:"enc"`
	Zip string          `json:"zip"`
	Epk json.RawMessage `json:"epk"`
	Apu string          `json:"apu"`
	Apv string          `json:"apv"`
}

// jweJSON is the JSON serialization, flattened or general (RFC 7516 §7.2).
type jweJSON struct {
	Protected    string          `json:"protected"`
	Unprotected  json.RawMessage `json:"unprotected"`
	Header       json.RawMessage `json:"header"`
	EncryptedKey string          `json:"encrypted_key"`
	Recipients   []struct {
		Header       json.RawMessage `json:"header"`
		EncryptedKey string          `json:"encrypted_key"`
	} `json:"recipients"`
	IV         string `json:"iv"`
	Ciphertext string `json:"ciphertext"`
	Tag        string `json:"tag"`
	AAD        string `json:"aad"`
}

// Decrypt opens the value of an EncryptedWire's "encrypted" member: a JWE
// in JSON serialization (what node-jose makes) or compact form.
func (k *WireKey) Decrypt(encrypted json.RawMessage) (string, error) {
	var j jweJSON
	var compact string
	if json.Unmarshal(encrypted, &compact) == nil {
		parts := strings.Split(compact, ".")
		if len(parts) != 5 {
			return "", badJWE("compact form needs 5 parts, got %d", len(parts))
		}
		j = jweJSON{Protected: parts[0], EncryptedKey: parts[1], IV: parts[2], Ciphertext: parts[3], Tag: parts[4]}
	} else if err := json.Unmarshal(encrypted, &j); err != nil {
		return "", badJWE("not a JWE object: %v", err)
	}
	headers := []json.RawMessage{j.Unprotected, j.Header}
	encKey := j.EncryptedKey
	switch len(j.Recipients) {
	case 0:
	case 1:
		headers = append(headers, j.Recipients[0].Header)
		encKey += j.Recipients[0].EncryptedKey
	default:
		return "", badJWE("%d recipients; expected one", len(j.Recipients))
	}
	if encKey != "" {
		return "", badJWE("an encrypted_key is set; ECDH-ES uses direct key agreement")
	}
	protected, err := b64.DecodeString(j.Protected)
	if err != nil {
		return "", badJWE("protected header: %v", err)
	}
	var h jweHeader
	// Later headers may add members; RFC 7516 forbids repeating one.
	for _, raw := range append([]json.RawMessage{protected}, headers...) {
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var part jweHeader
		if err := json.Unmarshal(raw, &part); err != nil {
			return "", badJWE("header: %v", err)
		}
		if err := mergeHeader(&h, part); err != nil {
			return "", err
		}
	}
	if h.Alg != "ECDH-ES" {
		return "", badJWE("alg %q; only ECDH-ES is accepted", h.Alg)
	}
	if h.Zip != "" {
		return "", badJWE("zip %q is not accepted", h.Zip)
	}
	cek, err := k.agree(h)
	if err != nil {
		return "", err
	}
	iv, err1 := b64.DecodeString(j.IV)
	ct, err2 := b64.DecodeString(j.Ciphertext)
	tag, err3 := b64.DecodeString(j.Tag)
	if err := errors.Join(err1, err2, err3); err != nil {
		return "", badJWE("iv, ciphertext or tag: %v", err)
	}
	aad := j.Protected
	if j.AAD != "" {
		aad += "." + j.AAD
	}
	plain, err := openContent(h.Enc, cek, iv, ct, tag, []byte(aad))
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

func mergeHeader(into *jweHeader, part jweHeader) error {
	set := func(dst *string, v, name string) error {
		if v == "" {
			return nil
		}
		if *dst != "" {
			return badJWE("header member %q given twice", name)
		}
		*dst = v
		return nil
	}
	if err := errors.Join(set(&into.Alg, part.Alg, "alg"), set(&into.Enc, part.Enc, "enc"), set(&into.Zip, part.Zip, "zip"),
		set(&into.Apu, part.Apu, "apu"), set(&into.Apv, part.Apv, "apv")); err != nil {
		return err
	}
	if len(part.Epk) > 0 {
		if len(into.Epk) > 0 {
			return badJWE("header member \"epk\" given twice")
		}
		into.Epk = part.Epk
	}
	return nil
}

// contentKeyBits is the key size of each accepted content encryption.
var contentKeyBits = map[string]int{
	"A128CBC-HS256": 256, "A192CBC-HS384": 384, "A256CBC-HS512": 512,
	"A128GCM": 128, "A192GCM": 192, "A256GCM": 256,
}

// agree derives the content key: ECDH with the sender's ephemeral key, then
// the Concat KDF of RFC 7518 §4.6.2 with the enc name as AlgorithmID.
func (k *WireKey) agree(h jweHeader) ([]byte, error) {
	bits, ok := contentKeyBits[h.Enc]
	if !ok {
		return nil, badJWE("enc %q is not accepted", h.Enc)
	}
	var epk model.JWK
	if err := json.Unmarshal(h.Epk, &epk); err != nil || epk.Kty != "EC" || epk.Crv != "P-256" {
		return nil, badJWE("epk must be an EC P-256 public key")
	}
	x, err1 := b64.DecodeString(epk.X)
	y, err2 := b64.DecodeString(epk.Y)
	if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		return nil, badJWE("epk coordinates must be 32 bytes each")
	}
	pub, err := ecdh.P256().NewPublicKey(append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, badJWE("epk is not a point on P-256")
	}
	z, err := k.priv.ECDH(pub)
	if err != nil {
		return nil, badJWE("key agreement: %v", err)
	}
	apu, err1 := b64.DecodeString(h.Apu)
	apv, err2 := b64.DecodeString(h.Apv)
	if err1 != nil || err2 != nil {
		return nil, badJWE("apu or apv is not base64url")
	}
	return ConcatKDF(z, h.Enc, apu, apv, bits), nil
}

// ConcatKDF is the single-step KDF of NIST SP 800-56A with SHA-256, as JWA
// uses it for ECDH-ES (RFC 7518 §4.6.2).
func ConcatKDF(z []byte, algID string, apu, apv []byte, bits int) []byte {
	lenPrefixed := func(b []byte) []byte {
		return binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	}
	var other []byte
	other = append(append(other, lenPrefixed([]byte(algID))...), algID...)
	other = append(append(other, lenPrefixed(apu)...), apu...)
	other = append(append(other, lenPrefixed(apv)...), apv...)
	other = binary.BigEndian.AppendUint32(other, uint32(bits))
	var out []byte
	for counter := uint32(1); len(out)*8 < bits; counter++ {
		h := sha256.New()
		h.Write(binary.BigEndian.AppendUint32(nil, counter))
		h.Write(z)
		h.Write(other)
		out = h.Sum(out)
	}
	return out[:bits/8]
}

// openContent authenticates and decrypts with the content key.
func openContent(enc string, cek, iv, ct, tag, aad []byte) ([]byte, error) {
	if strings.HasSuffix(enc, "GCM") {
		block, err := aes.NewCipher(cek)
		if err != nil {
			return nil, badJWE("content key: %v", err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil || len(iv) != gcm.NonceSize() || len(tag) != gcm.Overhead() {
			return nil, badJWE("iv or tag has the wrong size for %s", enc)
		}
		plain, err := gcm.Open(nil, iv, append(append([]byte{}, ct...), tag...), aad)
		if err != nil {
			return nil, badJWE("does not decrypt with this box's key (was it made with the key from auth.get-pubkey since the daemon last started?)")
		}
		return plain, nil
	}
	// AES-CBC with HMAC-SHA2 (RFC 7518 §5.2): the first half of the key
	// signs, the second half encrypts.
	half := len(cek) / 2
	macKey, encKey := cek[:half], cek[half:]
	var newHash func() hash.Hash
	switch len(cek) {
	case 32:
		newHash = sha256.New
	case 48:
		newHash = sha512.New384
	default:
		newHash = sha512.New
	}
	mac := hmac.New(newHash, macKey)
	mac.Write(aad)
	mac.Write(iv)
	mac.Write(ct)
	mac.Write(binary.BigEndian.AppendUint64(nil, uint64(len(aad))*8))
	want := mac.Sum(nil)[:half]
	if len(tag) != half || subtle.ConstantTimeCompare(tag, want) != 1 {
		return nil, badJWE("does not decrypt with this box's key (was it made with the key from auth.get-pubkey since the daemon last started?)")
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, badJWE("content key: %v", err)
	}
	if len(iv) != aes.BlockSize || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, badJWE("iv or ciphertext has the wrong size for %s", enc)
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(plain) {
		return nil, badJWE("bad padding")
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, badJWE("bad padding")
		}
	}
	return plain[:len(plain)-pad], nil
}

// EncryptForWire makes what the StartOS UI makes for a password: a JWE in
// flattened JSON serialization, ECDH-ES with a fresh ephemeral key and
// A128CBC-HS256, for the box whose public key is pub. A Go client talking
// to a box over plain http uses it; tests use it to speak as the UI does.
func EncryptForWire(pub model.JWK, plaintext string) (json.RawMessage, error) {
	x, err1 := b64.DecodeString(pub.X)
	y, err2 := b64.DecodeString(pub.Y)
	if pub.Kty != "EC" || pub.Crv != "P-256" || err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		return nil, errors.New("encrypt: the box's key must be an EC P-256 JWK")
	}
	boxKey, err := ecdh.P256().NewPublicKey(append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	eph, err := ecdh.P256().GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	z, err := eph.ECDH(boxKey)
	if err != nil {
		return nil, err
	}
	const enc = "A128CBC-HS256"
	cek := ConcatKDF(z, enc, nil, nil, 256)
	header, _ := json.Marshal(map[string]any{"alg": "ECDH-ES", "enc": enc, "epk": WireKeyFrom(eph).Public()})
	protected := b64.EncodeToString(header)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	plain := append([]byte(plaintext), bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, _ := aes.NewCipher(cek[16:])
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
	mac := hmac.New(sha256.New, cek[:16])
	mac.Write([]byte(protected))
	mac.Write(iv)
	mac.Write(ct)
	mac.Write(binary.BigEndian.AppendUint64(nil, uint64(len(protected))*8))
	return json.Marshal(map[string]string{
		"protected": protected, "iv": b64.EncodeToString(iv),
		"ciphertext": b64.EncodeToString(ct), "tag": b64.EncodeToString(mac.Sum(nil)[:16]),
	})
}
