package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestRootCreatedOnceKeyPrivate(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, rootKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("root key mode: %v %v", st, err)
	}
	if !c.Root().IsCA {
		t.Fatal("root is not a CA")
	}
	pub, ok := c.Root().PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("root key is %T, want ECDSA P-256", c.Root().PublicKey)
	}
	again, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != c.Fingerprint() || len(c.Fingerprint()) != 32*3-1 {
		t.Fatalf("fingerprint changed or malformed: %s vs %s", again.Fingerprint(), c.Fingerprint())
	}
}

func TestBrokenRootRefusedNotReplaced(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(dir string)
	}{
		{"garbage key", func(dir string) { os.WriteFile(filepath.Join(dir, rootKeyFile), []byte("junk"), 0o600) }},
		{"missing key", func(dir string) { os.Remove(filepath.Join(dir, rootKeyFile)) }},
		{"other key", func(dir string) {
			other := t.TempDir()
			if _, err := Open(Options{Dir: other}); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(other, rootKeyFile))
			os.WriteFile(filepath.Join(dir, rootKeyFile), b, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Open(Options{Dir: dir}); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(filepath.Join(dir, rootCertFile))
			tc.break_(dir)
			if _, err := Open(Options{Dir: dir}); err == nil {
				t.Fatal("a broken root was accepted")
			}
			after, _ := os.ReadFile(filepath.Join(dir, rootCertFile))
			if string(before) != string(after) {
				t.Fatal("the root certificate was replaced")
			}
		})
	}
}

func TestLeafVerifiesAgainstRootOnly(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"box.local", "ui-hello-box.local", "127.0.0.1"} {
		leaf, err := c.Certificate(name)
		if err != nil {
			t.Fatal(err)
		}
		inter := x509.NewCertPool()
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: c.Pool(), Intermediates: inter}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := leaf.Leaf.NotAfter.Sub(leaf.Leaf.NotBefore); d > 398*24*time.Hour {
			t.Fatalf("%s: validity %v exceeds Apple's 398 days", name, d)
		}
		if len(leaf.Certificate) != 2 {
			t.Fatalf("%s: chain has %d certificates, want leaf and root", name, len(leaf.Certificate))
		}
	}
	other, _ := Open(Options{Dir: t.TempDir()})
	leaf, _ := c.Certificate("box.local")
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "box.local", Roots: other.Pool()}); err == nil {
		t.Fatal("leaf verified against another box's root")
	}
}

func TestBadNamesRefused(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "../etc", "a/b.local", "-x.local", "x..local", "UPPER_.local", string(make([]byte, 64)) + ".local"} {
		if _, err := c.Certificate(name); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func TestLeafCacheSurvivesRestartAndCorruption(t *testing.T) {
	dir := t.TempDir()
	c, _ := Open(Options{Dir: dir})
	first, err := c.Certificate("box.local")
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := Open(Options{Dir: dir})
	cached, err := c2.Certificate("box.local")
	if err != nil || cached.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatalf("restart reissued instead of using the cache: %v", err)
	}
	for _, damage := range []func(p string){
		func(p string) { os.WriteFile(p, []byte("-----BEGIN CERTIFICATE-----\nnope\n"), 0o600) },
		func(p string) { os.Remove(p) },
	} {
		damage(filepath.Join(dir, leafDir, "box.local.pem"))
		c3, _ := Open(Options{Dir: dir})
		fresh, err := c3.Certificate("box.local")
		if err != nil {
			t.Fatal(err)
		}
		if fresh.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
			t.Fatal("damaged cache served")
		}
		if _, err := fresh.Leaf.Verify(x509.VerifyOptions{DNSName: "box.local", Roots: c3.Pool()}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLeafRenewedBeforeExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c, _ := Open(Options{Dir: t.TempDir(), Now: clock})
	first, _ := c.Certificate("box.local")
	mu.Lock()
	now = now.Add(LeafValidity - RenewBefore - time.Hour)
	mu.Unlock()
	same, _ := c.Certificate("box.local")
	if same != first {
		t.Fatal("renewed too early")
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	renewed, _ := c.Certificate("box.local")
	if renewed.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 {
		t.Fatal("not renewed within RenewBefore of expiry")
	}
}

func TestConcurrentIssueMakesOne(t *testing.T) {
	c, _ := Open(Options{Dir: t.TempDir()})
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leaf, err := c.Certificate("box.local")
			if err == nil {
				got[i] = leaf.Leaf.SerialNumber.String()
			}
		}()
	}
	wg.Wait()
	for _, s := range got {
		if s != got[0] || s == "" {
			t.Fatalf("serials differ: %v", got)
		}
	}
}
