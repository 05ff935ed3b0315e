package registry

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/s9pk"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	k, err := s9pk.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// archive writes a real signed package (its image a stand-in blob: the
// registry never loads images) and returns its path.
func archive(t testing.TB, dev ed25519.PrivateKey, id, version string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), id+"-"+version+".s9pk")
	b := &testpkg.Builder{Key: dev}
	if _, err := b.Archive(context.Background(), p, testpkg.Options{ID: id, Version: version}, []byte("image "+id+version), "x86_64"); err != nil {
		t.Fatal(err)
	}
	return p
}

func folder(t testing.TB, key ed25519.PrivateKey, now time.Time) *Folder {
	t.Helper()
	f := &Folder{Dir: filepath.Join(t.TempDir(), "reg"), Key: key, Now: func() time.Time { return now }}
	if err := f.Init("test registry"); err != nil {
		t.Fatal(err)
	}
	return f
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestPublishVerifyResolve(t *testing.T) {
	reg, dev := newKey(t), newKey(t)
	f := folder(t, reg, t0)
	for _, v := range []string{"0.1.0", "0.2.0"} {
		if _, err := f.Publish(archive(t, dev, "hello", v), PublishOptions{Categories: []string{"tools"}}); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(f.Dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	ver, err := Verify(data, VerifyOptions{Key: reg.Public().(ed25519.PublicKey), Now: t0, DeveloperSignatures: true})
	if err != nil {
		t.Fatal(err)
	}
	if ver.Sequence != 3 {
		t.Errorf("sequence %d after init and two publishes, want 3", ver.Sequence)
	}
	best, err := ver.Best("hello", manifest.VersionRange{}, Platform{Arch: "x86_64"})
	if err != nil || best.Version != "0.2.0" {
		t.Fatalf("best = %v, %v; want 0.2.0", best, err)
	}
	best, err = ver.Best("hello", manifest.MustParseVersionRange("<0.2.0"), Platform{Arch: "x86_64"})
	if err != nil || best.Version != "0.1.0" {
		t.Fatalf("best <0.2.0 = %v, %v; want 0.1.0", best, err)
	}
	if _, err := ver.Best("hello", manifest.VersionRange{}, Platform{Arch: "aarch64"}); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "x86_64") {
		t.Errorf("best on aarch64: %v; want not found naming the arch the registry has", err)
	}
	if n := ver.Newer("hello", manifest.MustParseVersion("0.1.0"), Platform{Arch: "x86_64"}); n == nil || n.Version != "0.2.0" {
		t.Errorf("newer than 0.1.0 = %v, want 0.2.0", n)
	}
	if n := ver.Newer("hello", manifest.MustParseVersion("0.3.0"), Platform{Arch: "x86_64"}); n != nil {
		t.Errorf("newer than 0.3.0 = %v: a downgrade was offered", n.Version)
	}
	if got := NewCatalog(ver.Index).Search("HELLO", "tools"); len(got) != 1 || got[0].Version != "0.2.0" {
		t.Errorf("search = %v", got)
	}
	if got := NewCatalog(ver.Index).Search("nothing-like-it", ""); len(got) != 0 {
		t.Errorf("search for a missing word found %d", len(got))
	}
	// The archive and icon sit where the index says.
	v := ver.Packages["hello"].Versions["0.2.0"]
	for _, ref := range []string{v.URL, v.Icon} {
		if _, err := os.Stat(filepath.Join(f.Dir, filepath.FromSlash(ref))); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

func TestPublishRefuses(t *testing.T) {
	reg, dev, other := newKey(t), newKey(t), newKey(t)
	f := folder(t, reg, t0)
	if _, err := f.Publish(archive(t, dev, "hello", "0.1.0"), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Publish(archive(t, dev, "hello", "0.1.0"), PublishOptions{}); !errors.Is(err, errdefs.ErrDuplicate) {
		t.Errorf("republishing 0.1.0: %v, want a duplicate error", err)
	}
	if _, err := f.Publish(archive(t, other, "hello", "0.2.0"), PublishOptions{}); !errors.Is(err, ErrUntrustedDeveloper) {
		t.Errorf("another developer's archive: %v, want untrusted developer", err)
	}
	if _, err := f.Publish(archive(t, other, "hello", "0.2.0"), PublishOptions{TrustDeveloper: true}); err != nil {
		t.Errorf("with TrustDeveloper: %v", err)
	}
	corrupt := archive(t, dev, "hello", "0.3.0")
	data, _ := os.ReadFile(corrupt)
	data[len(data)-10] ^= 1
	os.WriteFile(corrupt, data, 0o644)
	if _, err := f.Publish(corrupt, PublishOptions{}); err == nil {
		t.Error("a corrupt archive was published")
	}
	wrongReg := &Folder{Dir: f.Dir, Key: newKey(t)}
	if _, err := wrongReg.Publish(archive(t, dev, "hello", "0.4.0"), PublishOptions{}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("publishing with another registry key: %v, want wrong key", err)
	}
}

// signed returns an index with one valid version, edited by edit, signed
// with key.
func signed(t testing.TB, key, dev ed25519.PrivateKey, seq uint64, edit func(*Index)) []byte {
	t.Helper()
	c := s9pk.Commitment{RootMaxSize: 100}
	c.RootSighash[0] = 7
	sig, err := s9pk.SignCommitment(dev, c)
	if err != nil {
		t.Fatal(err)
	}
	devKey := EncodeKey(dev.Public().(ed25519.PublicKey))
	idx := &Index{Sequence: seq, IssuedAt: t0, Expires: t0.Add(time.Hour), Packages: map[string]*Package{
		"hello": {Developers: []string{devKey}, Versions: map[string]*Version{"1.0.0": {
			ID: "hello", Version: "1.0.0", Title: "Hello", Arch: []string{"x86_64"}, Size: 1000,
			Commitment: c, DeveloperKey: devKey, Signature: encodeSig(sig), URL: "packages/hello/1.0.0/hello.s9pk",
		}}},
	}}
	if edit != nil {
		edit(idx)
	}
	data, err := Sign(key, idx)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestVerifyRefuses(t *testing.T) {
	reg, dev, other := newKey(t), newKey(t), newKey(t)
	pinned := reg.Public().(ed25519.PublicKey)
	good := signed(t, reg, dev, 5, nil)
	goodV, err := Verify(good, VerifyOptions{Key: pinned, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	ver := func(f func(*Version)) func(*Index) {
		return func(idx *Index) { f(idx.Packages["hello"].Versions["1.0.0"]) }
	}
	tamper := func(data []byte) []byte {
		s := strings.Replace(string(data), `"Hello"`, `"Hellp"`, 1)
		return []byte(s)
	}
	cases := []struct {
		name string
		data []byte
		opts VerifyOptions
		want error
	}{
		{"another key", signed(t, other, dev, 5, nil), VerifyOptions{Key: pinned, Now: t0}, ErrWrongKey},
		{"expired", good, VerifyOptions{Key: pinned, Now: t0.Add(2 * time.Hour)}, ErrExpired},
		{"expired exactly at expiry", good, VerifyOptions{Key: pinned, Now: t0.Add(time.Hour)}, ErrExpired},
		{"rollback to an older sequence", signed(t, reg, dev, 4, nil), VerifyOptions{Key: pinned, Now: t0, MinSequence: 5}, ErrRollback},
		{"same sequence, other contents", signed(t, reg, dev, 5, func(i *Index) { i.Name = "x" }), VerifyOptions{Key: pinned, Now: t0, MinSequence: 5, SeenDigest: goodV.Digest}, ErrRollback},
		{"tampered body", tamper(good), VerifyOptions{Key: pinned, Now: t0}, ErrBadSignature},
		{"tampered body, no pin", tamper(good), VerifyOptions{Now: t0}, ErrBadSignature},
		{"not JSON", []byte("{"), VerifyOptions{Now: t0}, ErrMalformed},
		{"empty", nil, VerifyOptions{Now: t0}, ErrMalformed},
		{"trailing data", append(append([]byte{}, good...), []byte(" {}")...), VerifyOptions{Now: t0}, ErrMalformed},
		{"unknown envelope field", []byte(strings.Replace(string(good), `"format"`, `"extra": 1, "format"`, 1)), VerifyOptions{Now: t0}, ErrMalformed},
		{"future format", []byte(strings.Replace(string(good), `"format":1`, `"format":2`, 1)), VerifyOptions{Now: t0}, ErrMalformed},
		{"oversized", good, VerifyOptions{Now: t0, MaxSize: int64(len(good)) - 1}, ErrTooLarge},
		{"over the default limit", make([]byte, MaxIndexSize+1), VerifyOptions{Now: t0}, ErrTooLarge},
		{"untrusted developer", signed(t, reg, dev, 5, func(i *Index) {
			i.Packages["hello"].Developers = []string{EncodeKey(other.Public().(ed25519.PublicKey))}
		}), VerifyOptions{Now: t0}, ErrUntrustedDeveloper},
		{"no trusted developers", signed(t, reg, dev, 5, func(i *Index) { i.Packages["hello"].Developers = nil }), VerifyOptions{Now: t0}, ErrMalformed},
		{"developer signature over another commitment", signed(t, reg, dev, 5, ver(func(v *Version) { v.Commitment.RootSighash[1] = 1 })), VerifyOptions{Now: t0, DeveloperSignatures: true}, ErrBadSignature},
		{"bad package id", signed(t, reg, dev, 5, func(i *Index) { i.Packages["../etc"] = i.Packages["hello"] }), VerifyOptions{Now: t0}, ErrMalformed},
		{"version key differs", signed(t, reg, dev, 5, ver(func(v *Version) { v.Version = "2.0.0" })), VerifyOptions{Now: t0}, ErrMalformed},
		{"id differs", signed(t, reg, dev, 5, ver(func(v *Version) { v.ID = "other" })), VerifyOptions{Now: t0}, ErrMalformed},
		{"url escapes the registry", signed(t, reg, dev, 5, ver(func(v *Version) { v.URL = "../../etc/passwd" })), VerifyOptions{Now: t0}, ErrMalformed},
		{"file url", signed(t, reg, dev, 5, ver(func(v *Version) { v.URL = "file:///etc/passwd" })), VerifyOptions{Now: t0}, ErrMalformed},
		{"url with credentials", signed(t, reg, dev, 5, ver(func(v *Version) { v.URL = "https://u:p@example.org/x.s9pk" })), VerifyOptions{Now: t0}, ErrMalformed},
		{"no size", signed(t, reg, dev, 5, ver(func(v *Version) { v.Size = 0 })), VerifyOptions{Now: t0}, ErrMalformed},
		{"no commitment", signed(t, reg, dev, 5, ver(func(v *Version) { v.Commitment = s9pk.Commitment{} })), VerifyOptions{Now: t0}, ErrMalformed},
		{"huge title", signed(t, reg, dev, 5, ver(func(v *Version) { v.Title = strings.Repeat("x", 1000) })), VerifyOptions{Now: t0}, ErrMalformed},
		{"null version", signed(t, reg, dev, 5, func(i *Index) { i.Packages["hello"].Versions["1.0.0"] = nil }), VerifyOptions{Now: t0}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(c.data, c.opts)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !errors.Is(err, errdefs.ErrRegistry) && !errors.Is(err, errdefs.ErrInvalidSignature) {
				t.Errorf("err %v carries no errdefs kind", err)
			}
		})
	}
	// The same index again, and a newer one, pass.
	if _, err := Verify(good, VerifyOptions{Key: pinned, Now: t0, MinSequence: 5, SeenDigest: goodV.Digest}); err != nil {
		t.Errorf("the same index again: %v", err)
	}
	if _, err := Verify(signed(t, reg, dev, 6, nil), VerifyOptions{Key: pinned, Now: t0, MinSequence: 5, SeenDigest: goodV.Digest}); err != nil {
		t.Errorf("a newer index: %v", err)
	}
}

// bigIndex signs an index of n packages, one version each.
func bigIndex(t testing.TB, n int) []byte {
	reg, dev := newKey(t), newKey(t)
	return signed(t, reg, dev, 1, func(idx *Index) {
		tmpl := idx.Packages["hello"]
		for i := range n {
			id := fmt.Sprintf("pkg-%05d", i)
			v := *tmpl.Versions["1.0.0"]
			v.ID, v.Title = id, fmt.Sprintf("Package %d", i)
			v.Description.Short = "A service that does thing number " + fmt.Sprint(i)
			v.Categories = []string{[]string{"tools", "media", "bitcoin"}[i%3]}
			idx.Packages[id] = &Package{Developers: tmpl.Developers, Versions: map[string]*Version{"1.0.0": &v}}
		}
	})
}

func TestLargeIndex(t *testing.T) {
	data := bigIndex(t, 10000)
	ver, err := Verify(data, VerifyOptions{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(ver.Packages) != 10001 {
		t.Fatalf("%d packages", len(ver.Packages))
	}
	if got := NewCatalog(ver.Index).Search("number 4242", ""); len(got) != 1 || got[0].ID != "pkg-04242" {
		t.Errorf("search in 10,000: %v", got)
	}
}

func BenchmarkVerify10000(b *testing.B) {
	data := bigIndex(b, 10000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Verify(data, VerifyOptions{Now: t0}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFetch(t *testing.T) {
	body := []byte(`{"format":1}`)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer other.Close()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok/index.json":
			w.Write(body)
		case "/same-host":
			http.Redirect(w, r, "/ok/index.json", http.StatusFound)
		case "/off-host":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/big":
			w.Write(make([]byte, 2000))
		case "/truncated":
			w.Header().Set("Content-Length", "1000")
			w.Write(make([]byte, 10))
		case "/stall":
			w.Header().Set("Content-Length", "1000")
			w.Write(make([]byte, 10))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx := context.Background()
	u, err := IndexURL(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Fetch(ctx, u, FetchOptions{}); err != nil || string(got) != string(body) {
		t.Fatalf("fetch = %q, %v", got, err)
	}
	if _, err := Fetch(ctx, srv.URL+"/same-host", FetchOptions{}); err != nil {
		t.Errorf("a redirect on the same host: %v", err)
	}
	if _, err := Fetch(ctx, srv.URL+"/off-host", FetchOptions{AllowRedirectsOffHost: true}); err != nil {
		t.Errorf("an allowed redirect off the host: %v", err)
	}
	cases := []struct {
		path string
		opts FetchOptions
		want error
		says string
	}{
		{"/off-host", FetchOptions{}, errdefs.ErrRegistry, "leaves the registry's host"},
		{"/big", FetchOptions{MaxSize: 1000}, ErrTooLarge, "over the 1000-byte limit"},
		{"/truncated", FetchOptions{}, errdefs.ErrNetwork, "after 10 bytes"},
		{"/stall", FetchOptions{Timeout: 300 * time.Millisecond}, errdefs.ErrTimeout, "stalled"},
		{"/missing", FetchOptions{}, errdefs.ErrNetwork, "404"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			_, err := Fetch(ctx, srv.URL+c.path, c.opts)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("err = %v, want %v saying %q", err, c.want, c.says)
			}
		})
	}
	for _, bad := range []string{"ftp://x/", "http://u:p@host/", "not a url", "/relative"} {
		if _, err := IndexURL(bad); !errors.Is(err, errdefs.ErrInvalidRequest) {
			t.Errorf("IndexURL(%q) = %v", bad, err)
		}
	}
}

func TestEnvelopeShape(t *testing.T) {
	reg, dev := newKey(t), newKey(t)
	var env map[string]json.RawMessage
	if err := json.Unmarshal(signed(t, reg, dev, 1, nil), &env); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format", "key", "signature", "signed"} {
		if env[k] == nil {
			t.Errorf("envelope lacks %q", k)
		}
	}
}
