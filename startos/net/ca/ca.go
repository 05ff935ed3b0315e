// Package ca is the box's own certificate authority: one root created once
// (ECDSA P-256, key 0600 on disk) and short-lived leaf certificates issued
// on demand for each name the box serves, cached on disk and renewed well
// before they expire.
package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/startos-go/startos/internal/atomicfile"
)

const (
	// RootValidity is how long the root is valid. User-installed roots are
	// not subject to the CA/Browser Forum's leaf limits.
	RootValidity = 10 * 365 * 24 * time.Hour
	// LeafValidity keeps leaves under Apple's 398-day limit (which Chrome
	// also applies) and, at 90 days, under the 100-day limit those rules
	// step down to in 2026.
	LeafValidity = 90 * 24 * time.Hour
	// RenewBefore is how long before expiry a leaf is replaced.
	RenewBefore = 30 * 24 * time.Hour
	// backdate absorbs clock skew between the box and a client.
	backdate = time.Hour
)

// File names under the CA's directory.
const (
	rootCertFile = "root.crt"
	rootKeyFile  = "root.key"
	leafDir      = "leaf"
)

// Options configure Open.
type Options struct {
	Dir string           // where the root and the leaf cache live; created 0700
	Now func() time.Time // defaults to time.Now
	// Name is the root's common name; defaults to "StartOS Local Root CA".
	Name string
}

// CA issues leaf certificates from the box's root. Its methods are safe for
// concurrent use.
type CA struct {
	dir  string
	now  func() time.Time
	root *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte

	mu     sync.Mutex
	leaves map[string]*tls.Certificate // by name
	// issuing serialises issuance per name so concurrent handshakes for a
	// new name make one certificate; it never spans another name's work.
	issuing map[string]*sync.Mutex
}

// Open loads the root from dir, creating it the first time.
func Open(o Options) (*CA, error) {
	if o.Dir == "" {
		return nil, errors.New("ca: dir is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Name == "" {
		o.Name = "StartOS Local Root CA"
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, leafDir), 0o700); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	c := &CA{dir: o.Dir, now: o.Now, leaves: map[string]*tls.Certificate{}, issuing: map[string]*sync.Mutex{}}
	certPEM, certErr := os.ReadFile(filepath.Join(o.Dir, rootCertFile))
	keyPEM, keyErr := os.ReadFile(filepath.Join(o.Dir, rootKeyFile))
	switch {
	case certErr == nil && keyErr == nil:
		if err := c.load(certPEM, keyPEM); err != nil {
			// Never replace a root silently: every device that trusts it
			// would stop trusting the box.
			return nil, fmt.Errorf("ca: the root in %s is unreadable (%v); move it away to create a new one", o.Dir, err)
		}
	case errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist):
		if err := c.create(o.Name); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("ca: the root in %s is incomplete (certificate: %v, key: %v); move it away to create a new one", o.Dir, certErr, keyErr)
	}
	return c, nil
}

func (c *CA) load(certPEM, keyPEM []byte) error {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return errors.New("the key does not match the certificate")
	}
	c.root, c.key, c.pem = cert, key, pem.EncodeToMemory(cb)
	return nil
}

func (c *CA) create(name string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	now := c.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"StartOS"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(RootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// The key first: a certificate without its key is refused at the next
	// start, a lone key is overwritten.
	if err := atomicfile.Write(filepath.Join(c.dir, rootKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(c.dir, rootCertFile), certPEM, 0o644); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	return c.load(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// PEM is the root certificate, PEM-encoded.
func (c *CA) PEM() []byte { return append([]byte(nil), c.pem...) }

// Root is the root certificate.
func (c *CA) Root() *x509.Certificate { return c.root }

// Fingerprint is the SHA-256 of the root's DER, as colon-separated
// uppercase hex (the form browsers and openssl show).
func (c *CA) Fingerprint() string { return Fingerprint(c.root) }

// Fingerprint is the SHA-256 of cert's DER in colon-separated hex.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// Certificate returns a leaf for name (a DNS name or an IP address), from
// memory, then the disk cache, else newly issued. A cached leaf that is
// unreadable, not from this root, or within RenewBefore of expiry is
// replaced.
func (c *CA) Certificate(name string) (*tls.Certificate, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if err := checkName(name); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if leaf := c.leaves[name]; leaf != nil && c.fresh(leaf.Leaf) {
		c.mu.Unlock()
		return leaf, nil
	}
	lock := c.issuing[name]
	if lock == nil {
		lock = &sync.Mutex{}
		c.issuing[name] = lock
	}
	c.mu.Unlock()

	lock.Lock()
	defer lock.Unlock()
	c.mu.Lock()
	if leaf := c.leaves[name]; leaf != nil && c.fresh(leaf.Leaf) {
		c.mu.Unlock()
		return leaf, nil
	}
	c.mu.Unlock()
	leaf, err := c.loadLeaf(name)
	if err != nil {
		if leaf, err = c.issue(name); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.leaves[name] = leaf
	c.mu.Unlock()
	return leaf, nil
}

// fresh reports whether leaf is from this root and not yet due for renewal.
func (c *CA) fresh(leaf *x509.Certificate) bool {
	if leaf == nil || leaf.CheckSignatureFrom(c.root) != nil {
		return false
	}
	now := c.now()
	return now.After(leaf.NotBefore) && now.Add(RenewBefore).Before(leaf.NotAfter)
}

func (c *CA) leafPath(name string) string {
	return filepath.Join(c.dir, leafDir, name+".pem")
}

// loadLeaf reads the cached leaf of name; any defect is an error, and the
// caller issues a new one.
func (c *CA) loadLeaf(name string) (*tls.Certificate, error) {
	b, err := os.ReadFile(c.leafPath(name))
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(b, b)
	if err != nil {
		return nil, err
	}
	if !c.fresh(cert.Leaf) {
		return nil, errors.New("cached leaf is stale or not from this root")
	}
	if err := cert.Leaf.VerifyHostname(name); err != nil {
		return nil, err
	}
	return &cert, nil
}

func (c *CA) issue(name string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	now := c.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(LeafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.root, &key.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("ca: issue %s: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	// The chain (leaf, root) so a client that has the root sees a full
	// path, then the key: one file per name.
	var b []byte
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	b = append(b, c.pem...)
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...)
	if err := atomicfile.Write(c.leafPath(name), b, 0o600); err != nil {
		return nil, fmt.Errorf("ca: cache %s: %w", name, err)
	}
	cert, err := tls.X509KeyPair(b, b)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return &cert, nil
}

// Forget drops name's leaf from memory and disk (a name no longer served).
func (c *CA) Forget(name string) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if checkName(name) != nil {
		return
	}
	c.mu.Lock()
	delete(c.leaves, name)
	delete(c.issuing, name)
	c.mu.Unlock()
	os.Remove(c.leafPath(name))
}

// Pool is a certificate pool holding only the root, for clients and tests.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.root)
	return p
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

// checkName refuses what cannot be a host name or address; the name becomes
// a file name, so it must never hold a path separator or dot-dot.
func checkName(name string) error {
	if net.ParseIP(name) != nil {
		return nil
	}
	if len(name) == 0 || len(name) > 253 {
		return fmt.Errorf("ca: name %q: want a DNS name of 1-253 characters", name)
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("ca: name %q: each label must be 1-63 letters, digits or inner hyphens", name)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("ca: name %q: each label must be 1-63 letters, digits or inner hyphens", name)
			}
		}
	}
	return nil
}
