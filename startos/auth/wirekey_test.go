package auth

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
)

// TestWireKeyRoundTrip: a password encrypted as the StartOS UI encrypts it
// (ECDH-ES, A128CBC-HS256, flattened JSON) with the box's public JWK opens
// with the box's key, and only with it.
func TestWireKeyRoundTrip(t *testing.T) {
	box, err := NewWireKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewWireKey()
	for _, pw := range []string{"", "correct horse battery", "sixteen-byte-pw!", "ünïcødé ✓"} {
		enc, err := EncryptForWire(box.Public(), pw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := box.Decrypt(enc)
		if err != nil || got != pw {
			t.Fatalf("decrypt %q: got %q, %v", pw, got, err)
		}
		if _, err := other.Decrypt(enc); !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "does not decrypt") {
			t.Fatalf("another box's key opened it: %v", err)
		}
	}
}

// TestWireKeyStartOSVector decrypts the JWE that StartOS's own test records
// from its web UI (node-jose) for a known key: the interoperability check.
func TestWireKeyStartOSVector(t *testing.T) {
	d, _ := base64.RawURLEncoding.DecodeString("3P-MxbUJtEhdGGpBCRFXkUneGgdyz_DGZWfIAGSCHOU")
	priv, err := ecdh.P256().NewPrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	k := WireKeyFrom(priv)
	if pub := k.Public(); pub.X != "yHTDYSfjU809fkSv9MmN4wuojf5c3cnD7ZDN13n-jz4" || pub.Y != "8Mpkn744A5KDag0DmX2YivB63srjbugYZzWc3JOpQXI" {
		t.Fatalf("public key %+v does not match the vector's", pub)
	}
	jwe := `{"protected":"eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiRUNESC1FUyIsImtpZCI6ImgtZnNXUVh2Tm95dmJEazM5dUNsQ0NUdWc5N3MyZnJockJnWUVBUWVtclUiLCJlcGsiOnsia3R5IjoiRUMiLCJjcnYiOiJQLTI1NiIsIngiOiJmRkF0LXNWYWU2aGNkdWZJeUlmVVdUd3ZvWExaTkdKRHZIWVhIckxwOXNNIiwieSI6IjFvVFN6b00teHlFZC1SLUlBaUFHdXgzS1dJZmNYZHRMQ0JHLUh6MVkzY2sifX0","iv":"NbwvfvWOdLpZfYRIZUrkcw","ciphertext":"Zc5Br5kYOlhPkIjQKOLMJw","tag":"EPoch52lDuCsbUUulzZGfg"}`
	got, err := k.Decrypt(json.RawMessage(jwe))
	if err != nil || got != "testing12345" {
		t.Fatalf("StartOS vector: got %q, %v", got, err)
	}
	// The same JWE in general serialization and in compact form.
	var flat map[string]string
	json.Unmarshal([]byte(jwe), &flat)
	general, _ := json.Marshal(map[string]any{"protected": flat["protected"], "recipients": []any{map[string]any{}}, "iv": flat["iv"], "ciphertext": flat["ciphertext"], "tag": flat["tag"]})
	compact, _ := json.Marshal(strings.Join([]string{flat["protected"], "", flat["iv"], flat["ciphertext"], flat["tag"]}, "."))
	for name, raw := range map[string][]byte{"general": general, "compact": compact} {
		if got, err := k.Decrypt(raw); err != nil || got != "testing12345" {
			t.Fatalf("%s: got %q, %v", name, got, err)
		}
	}
}

// TestWireKeyRefusals: each malformed or tampered envelope is refused with
// a reason, as an invalid request.
func TestWireKeyRefusals(t *testing.T) {
	box, _ := NewWireKey()
	enc, _ := EncryptForWire(box.Public(), "pw")
	var flat map[string]string
	json.Unmarshal(enc, &flat)
	with := func(key, val string) json.RawMessage {
		m := map[string]string{}
		for k, v := range flat {
			m[k] = v
		}
		m[key] = val
		b, _ := json.Marshal(m)
		return b
	}
	hdr := func(h string) string { return base64.RawURLEncoding.EncodeToString([]byte(h)) }
	tag := []byte(flat["tag"])
	// Another base64url letter: the tag changes and still decodes.
	if tag[0] == 'A' {
		tag[0] = 'B'
	} else {
		tag[0] = 'A'
	}
	for name, tc := range map[string]struct {
		raw  json.RawMessage
		want string
	}{
		"not JSON object":    {json.RawMessage(`42`), "not a JWE object"},
		"wrong alg":          {with("protected", hdr(`{"alg":"RSA-OAEP","enc":"A128GCM"}`)), `alg "RSA-OAEP"`},
		"wrong enc":          {with("protected", hdr(`{"alg":"ECDH-ES","enc":"XYZ"}`)), `enc "XYZ"`},
		"zip":                {with("protected", hdr(`{"alg":"ECDH-ES","enc":"A128GCM","zip":"DEF"}`)), "zip"},
		"no epk":             {with("protected", hdr(`{"alg":"ECDH-ES","enc":"A128CBC-HS256"}`)), "epk"},
		"tampered tag":       {with("tag", string(tag)), "does not decrypt"},
		"encrypted key":      {with("encrypted_key", "AAAA"), "encrypted_key"},
		"compact 3 parts":    {json.RawMessage(`"a.b.c"`), "5 parts"},
		"header given twice": {with("unprotected", `{"alg":"ECDH-ES"}`), "given twice"},
	} {
		if tc.want == "given twice" {
			// unprotected is an object, not a string: build it by hand.
			m := map[string]any{}
			for k, v := range flat {
				m[k] = v
			}
			m["unprotected"] = map[string]string{"alg": "ECDH-ES"}
			tc.raw, _ = json.Marshal(m)
		}
		_, err := box.Decrypt(tc.raw)
		if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an invalid request naming %q", name, err, tc.want)
		}
	}
}
