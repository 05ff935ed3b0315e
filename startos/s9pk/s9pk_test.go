package s9pk

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"go.uber.org/goleak"
	"lukechampine.com/blake3"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func blake3Sum(b []byte) []byte {
	s := blake3.Sum256(b)
	return s[:]
}

func TestRoundTrip(t *testing.T) {
	pkg := testPackage(t, 100_000)
	data, res := writePackage(t, pkg)

	a, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Commitment() != res.Commitment {
		t.Errorf("commitment %+v, writer said %+v", a.Commitment(), res.Commitment)
	}
	if !a.PublicKey().Equal(testKey(t).Public()) {
		t.Error("public key differs")
	}
	want, _ := pkg.Manifest.MarshalArchived()
	got, _ := a.Manifest().MarshalArchived()
	if !bytes.Equal(got, want) {
		t.Errorf("manifest differs:\n%s\n%s", got, want)
	}
	if name, icon, err := a.Icon(); err != nil || name != "icon.png" || string(icon) != "\x89PNG fake icon" {
		t.Errorf("icon: %s %q %v", name, icon, err)
	}
	if b, err := a.License(); err != nil || string(b) != "MIT License\n" {
		t.Errorf("license: %q %v", b, err)
	}
	if b, err := a.Instructions(); err != nil || !strings.HasPrefix(string(b), "# Hello") {
		t.Errorf("instructions: %q %v", b, err)
	}
	for p, src := range pkg.Assets {
		r, _ := src.Open()
		wantBytes, _ := io.ReadAll(r)
		b, err := a.ReadFile("assets/"+p, 1<<20)
		if err != nil || !bytes.Equal(b, wantBytes) {
			t.Errorf("assets/%s: %q %v", p, b, err)
		}
	}
	if got := a.Arches(); !reflect.DeepEqual(got, []string{"x86_64"}) {
		t.Errorf("arches %v", got)
	}
	imgs := a.Images("x86_64")
	if len(imgs) != 2 || imgs[0].ID != "main" || imgs[1].ID != "tools" {
		t.Fatalf("images %+v", imgs)
	}
	for i, img := range imgs {
		r, err := a.OpenImage(img)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		src, _ := pkg.Images[i].Source.Open()
		wantImg, _ := io.ReadAll(src)
		if !bytes.Equal(b, wantImg) {
			t.Errorf("image %s differs", img.ID)
		}
		ia, err := InspectImageArchive(bytes.NewReader(b))
		if err != nil || ia.RepoTags[0] != "start9/hello/"+img.ID+":1.2.3.4" || ia.Architecture != "amd64" {
			t.Errorf("image %s: %+v %v", img.ID, ia, err)
		}
	}
	if len(a.Images("aarch64")) != 0 {
		t.Error("images for a missing arch")
	}
	if problems := a.Check(nil); len(problems) != 0 {
		t.Errorf("Check: %v", problems)
	}
	var progressed int64
	if err := a.VerifyAll(func(n int64) { progressed = n }); err != nil {
		t.Fatal(err)
	}
	if progressed == 0 {
		t.Error("no progress reported")
	}

	// The stream verifier agrees, in big and tiny writes.
	for _, chunk := range []int{1 << 20, 7, 1} {
		s, err := streamVerify(data, chunk)
		if err != nil {
			t.Fatalf("stream (chunk %d): %v", chunk, err)
		}
		if s.Commitment != res.Commitment || s.Size != int64(len(data)) || s.Manifest.ID != "hello" {
			t.Errorf("stream summary %+v", s)
		}
	}
	var copied bytes.Buffer
	if _, err := VerifyStream(bytes.NewReader(data), &copied, nil); err != nil || !bytes.Equal(copied.Bytes(), data) {
		t.Errorf("VerifyStream: %v, copied %d of %d bytes", err, copied.Len(), len(data))
	}

	// Writing the same package again gives the same bytes.
	again, _ := writePackage(t, testPackage(t, 100_000))
	if !bytes.Equal(again, data) {
		t.Error("writing is not deterministic")
	}
}

// The layout is breadth first with manifest.json near the front, and the
// tables and files tile the archive.
func TestLayout(t *testing.T) {
	data, _ := writePackage(t, testPackage(t, 50_000))
	a, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := a.Stat(ManifestPath)
	if m.Pos > 4096 {
		t.Errorf("manifest.json starts at byte %d", m.Pos)
	}
	var order []string
	for _, c := range a.Root().Children {
		order = append(order, c.Name)
	}
	if want := []string{"images", "assets", "manifest.json", "icon.png", "LICENSE.md", "instructions.md"}; !reflect.DeepEqual(order, want) {
		t.Errorf("root order %v, want %v", order, want)
	}
	var prevDepth int
	var prevPos int64
	_ = a.Walk(func(e *Entry) error {
		if e.Type == DirEntry {
			for _, c := range e.Children {
				if c.Pos < e.Pos+e.TOCSize {
					t.Errorf("%s comes before the table listing it", c.Path)
				}
			}
		}
		return nil
	})
	// Breadth first: layout position grows with depth.
	for _, f := range a.Files() {
		depth := strings.Count(f.Path, "/")
		if f.Pos < prevPos {
			t.Errorf("files out of order at %s", f.Path)
		}
		if depth < prevDepth {
			t.Errorf("%s (depth %d) is laid out after a deeper file", f.Path, depth)
		}
		prevDepth, prevPos = depth, f.Pos
	}
}

// smallPackage has every kind of part, but tiny, so tests can try every byte.
func smallPackage(t testing.TB) *Package {
	pkg := testPackage(t, 1)
	pkg.Assets = map[string]Source{"static/a.txt": BytesSource([]byte("a")), "static/b/c.txt": BytesSource([]byte("c")), "static/empty": BytesSource(nil)}
	pkg.Images[0].Source = BytesSource([]byte("main image"))
	pkg.Images[1].Source = BytesSource([]byte("tools image"))
	return pkg
}

// Flipping any bit pattern at any byte of a small archive is detected, and
// the error names the bytes that were changed (or the bytes that point at
// the part that now reads wrong).
func TestTamperEveryByte(t *testing.T) {
	data, _ := writePackage(t, smallPackage(t))
	t.Logf("archive is %d bytes", len(data))
	if _, err := openAndVerify(data); err != nil {
		t.Fatal(err)
	}
	bad := make([]byte, len(data))
	for off := range data {
		for _, flip := range []byte{0x01, 0x80} {
			copy(bad, data)
			bad[off] ^= flip
			_, err := openAndVerify(bad)
			if err == nil {
				t.Fatalf("flipping %#x at byte %d went unnoticed", flip, off)
			}
			if !errors.Is(err, errdefs.ErrInvalidSignature) && !errors.Is(err, errdefs.ErrParseS9pk) {
				t.Fatalf("byte %d: error is neither ErrInvalidSignature nor ErrParseS9pk: %v", off, err)
			}
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("byte %d: error does not say where: %v", off, err)
			}
			if !e.Covers(int64(off)) {
				t.Fatalf("byte %d: error points elsewhere: %v", off, err)
			}
			if _, err := streamVerify(bad, 4096); err == nil {
				t.Fatalf("stream: flipping %#x at byte %d went unnoticed", flip, off)
			}
		}
	}
}

func TestTruncation(t *testing.T) {
	data, _ := writePackage(t, smallPackage(t))
	for n := range len(data) {
		if _, err := openAndVerify(data[:n]); err == nil {
			t.Fatalf("archive cut to %d of %d bytes accepted", n, len(data))
		}
		if _, err := streamVerify(data[:n], 512); err == nil {
			t.Fatalf("stream cut to %d of %d bytes accepted", n, len(data))
		}
	}
	// Extra bytes at the end are refused too.
	long := append(bytes.Clone(data), 0)
	if _, err := openAndVerify(long); err == nil || !strings.Contains(err.Error(), "follow the last part") {
		t.Errorf("trailing byte: %v", err)
	}
	if _, err := streamVerify(long, 512); err == nil {
		t.Error("stream: trailing byte accepted")
	}
}

func TestBadSignature(t *testing.T) {
	data, _ := writePackage(t, testPackage(t, 64))
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	smallOrderKey := make([]byte, 32)
	smallOrderKey[0] = 1 // the identity point
	cases := map[string]func(b []byte){
		"signature byte":       func(b []byte) { b[40] ^= 1 },
		"another signer's key": func(b []byte) { copy(b[3:35], other.Public().(ed25519.PublicKey)) },
		"small-order key":      func(b []byte) { copy(b[3:35], smallOrderKey) },
		"root sighash":         func(b []byte) { b[100] ^= 1 },
		"root max size":        func(b []byte) { b[138] ^= 1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			bad := bytes.Clone(data)
			mutate(bad)
			_, err := Open(bytes.NewReader(bad), int64(len(bad)), nil)
			if !errors.Is(err, errdefs.ErrInvalidSignature) {
				t.Fatalf("got %v, want ErrInvalidSignature", err)
			}
			var out bytes.Buffer
			if _, err := VerifyStream(bytes.NewReader(bad), &out, nil); err == nil || out.Len() != 0 {
				t.Errorf("stream: %v, wrote %d bytes", err, out.Len())
			}
		})
	}
}

// A header that claims a huge table of contents is refused before anything
// is allocated or written, unless a commitment vouches for it.
func TestOversizedTOC(t *testing.T) {
	key := testKey(t)
	c := Commitment{RootMaxSize: 1 << 40}
	hdr := rawHeader(t, key, c, HeaderSize, 1<<40)
	data := append(hdr, make([]byte, 64)...)
	_, err := Open(bytes.NewReader(data), 1<<50, nil)
	if !errors.Is(err, errdefs.ErrParseS9pk) || !strings.Contains(err.Error(), "limit without a commitment") {
		t.Fatalf("got %v", err)
	}
	out := filepath.Join(t.TempDir(), "upload")
	f, _ := os.Create(out)
	_, err = VerifyStream(bytes.NewReader(data), f, nil)
	f.Close()
	if err == nil {
		t.Fatal("stream accepted")
	}
	if st, _ := os.Stat(out); st.Size() != 0 {
		t.Errorf("%d bytes written to disk before the refusal", st.Size())
	}

	// A real archive whose root table is over 1 MiB opens only with its
	// commitment.
	b := NewBuilder()
	for i := range 20000 {
		if err := b.Add(strings.Repeat("f", 10)+strconv.Itoa(i), BytesSource(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(ManifestPath, BytesSource(mustArchived(t))); err != nil {
		t.Fatal(err)
	}
	var mf memFile
	res, err := b.WriteTo(&mf, key)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commitment.RootMaxSize <= DefaultMaxTOCSize {
		t.Fatalf("root table is only %d bytes", res.Commitment.RootMaxSize)
	}
	if _, err := Open(bytes.NewReader(mf.b), int64(len(mf.b)), nil); err == nil {
		t.Fatal("large root table accepted without a commitment")
	}
	a, err := Open(bytes.NewReader(mf.b), int64(len(mf.b)), &Options{Commitment: &res.Commitment})
	if err != nil {
		t.Fatalf("with commitment: %v", err)
	}
	if len(a.Root().Children) != 20001 {
		t.Errorf("%d entries", len(a.Root().Children))
	}
	wrong := res.Commitment
	wrong.RootSighash[0] ^= 1
	if _, err := Open(bytes.NewReader(mf.b), int64(len(mf.b)), &Options{Commitment: &wrong}); !errors.Is(err, errdefs.ErrInvalidSignature) {
		t.Errorf("wrong commitment: %v", err)
	}
	if _, err := streamVerifyOpts(mf.b, &Options{Commitment: &res.Commitment}); err != nil {
		t.Errorf("stream with commitment: %v", err)
	}
}

func streamVerifyOpts(data []byte, opts *Options) (*Summary, error) {
	v := NewVerifier(opts)
	if _, err := v.Write(data); err != nil {
		return nil, err
	}
	return v.Close()
}

func mustArchived(t testing.TB) []byte {
	b, err := testManifest(t).MarshalArchived()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Names that could escape a folder are refused when the table is read,
// before any file is opened, and nothing reaches the disk.
func TestHostileNames(t *testing.T) {
	key := testKey(t)
	mj := mustArchived(t)
	names := []string{"..", ".", "", "a/b", "../etc/passwd", "x\x00y", "\xff\xfe", strings.Repeat("n", MaxNameLen+1)}
	for _, name := range names {
		for _, nested := range []bool{false, true} {
			root := []rawFile{{ManifestPath, mj}}
			var sub []rawFile
			if nested {
				sub = []rawFile{{name, []byte("evil")}}
			} else {
				root = append(root, rawFile{name, []byte("evil")})
			}
			data := rawArchive(t, key, root, sub)
			_, err := Open(bytes.NewReader(data), int64(len(data)), nil)
			if !errors.Is(err, errdefs.ErrParseS9pk) {
				t.Errorf("name %q (nested %v): got %v", name, nested, err)
				continue
			}
			out := filepath.Join(t.TempDir(), "out")
			f, _ := os.Create(out)
			_, err = VerifyStream(bytes.NewReader(data), f, nil)
			f.Close()
			if err == nil {
				t.Errorf("stream accepted name %q", name)
			}
			if st, _ := os.Stat(out); !nested && st.Size() != 0 {
				t.Errorf("name %q: %d bytes reached the disk", name, st.Size())
			}
		}
	}
	// A duplicate name is refused too.
	data := rawArchive(t, key, []rawFile{{ManifestPath, mj}, {"a", nil}, {"a", nil}}, nil)
	if _, err := Open(bytes.NewReader(data), int64(len(data)), nil); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("duplicate: %v", err)
	}
	// And the raw writer itself is sound: a clean archive opens.
	data = rawArchive(t, key, []rawFile{{ManifestPath, mj}}, []rawFile{{"ok.txt", []byte("fine")}})
	if _, err := openAndVerify(data); err != nil {
		t.Errorf("clean raw archive: %v", err)
	}
}

func TestBuilderRefuses(t *testing.T) {
	b := NewBuilder()
	if err := b.Add("a/b.txt", BytesSource(nil)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/b.txt", "a/b.txt/c", "", "/abs", "a//b", "../x", "a/./b"} {
		if err := b.Add(p, BytesSource(nil)); err == nil {
			t.Errorf("Add(%q) accepted", p)
		}
	}
	if !b.Has("a/b.txt") || b.Has("a") || b.Has("a/c") {
		t.Error("Has is wrong")
	}
	var f memFile
	if _, err := b.WriteTo(&f, ed25519.PrivateKey{1, 2}); err == nil {
		t.Error("short key accepted")
	}
	// A package needs its parts and a valid manifest.
	pkg := testPackage(t, 10)
	pkg.Icon = nil
	if _, err := WritePackage(&f, testKey(t), pkg); err == nil {
		t.Error("package without icon written")
	}
	pkg = testPackage(t, 10)
	pkg.Images[0].Arch = "sparc"
	if _, err := WritePackage(&f, testKey(t), pkg); err == nil {
		t.Error("unknown architecture accepted")
	}
	pkg = testPackage(t, 10)
	pkg.Manifest.Title = ""
	if _, err := WritePackage(&f, testKey(t), pkg); !errors.Is(err, errdefs.ErrValidateS9pk) {
		t.Errorf("invalid manifest: %v", err)
	}
	// A source that fails stops the write.
	b = NewBuilder()
	_ = b.Add("x", SourceFunc(func() (io.ReadCloser, error) { return nil, errors.New("boom") }))
	if _, err := b.WriteTo(&f, testKey(t)); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing source: %v", err)
	}
	// A source that fails midway, and a destination that fails while the
	// source is blocked waiting for more: both end the write promptly.
	b = NewBuilder()
	_ = b.Add("x", SourceFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), iotest.ErrReader(errors.New("cut")))), nil
	}))
	if _, err := b.WriteTo(&f, testKey(t)); err == nil || !strings.Contains(err.Error(), "cut") {
		t.Errorf("source failing midway: %v", err)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.Write(make([]byte, 1<<20)) // then never closes
	}()
	b = NewBuilder()
	_ = b.Add("x", SourceFunc(func() (io.ReadCloser, error) { return pr, nil }))
	done := make(chan error, 1)
	go func() {
		_, err := b.WriteTo(failingWriter{}, testKey(t))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("failing destination: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WriteTo hung on a blocked source after its destination failed")
	}
	pw.Close()
}

type failingWriter struct{}

func (failingWriter) WriteAt([]byte, int64) (int, error) { return 0, errors.New("disk full") }

func TestCommitmentForms(t *testing.T) {
	_, res := writePackage(t, testPackage(t, 10))
	c := res.Commitment
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"rootSighash"`)) || !bytes.Contains(b, []byte(`"rootMaxsize"`)) {
		t.Errorf("JSON %s", b)
	}
	var back Commitment
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
	q, err := ParseCommitmentQuery(c.Query())
	if err != nil || q != c {
		t.Errorf("query round trip: %v %+v", err, q)
	}
	for _, bad := range []string{"rootSighash=AAAA&rootMaxsize=1", "rootMaxsize=x", "%zz"} {
		if _, err := ParseCommitmentQuery(bad); err == nil {
			t.Errorf("query %q accepted", bad)
		}
	}
	if err := json.Unmarshal([]byte(`{"rootSighash":"!!","rootMaxsize":1}`), &back); err == nil {
		t.Error("bad base64 accepted")
	}
}

// Large files are checked before their first byte is handed out, and again
// as they are read.
func TestOpenLargeFile(t *testing.T) {
	big := bytes.Repeat([]byte("large"), (inMemory+100)/5)
	b := NewBuilder()
	_ = b.Add(ManifestPath, BytesSource(mustArchived(t)))
	_ = b.Add("big.bin", BytesSource(big))
	var f memFile
	if _, err := b.WriteTo(&f, testKey(t)); err != nil {
		t.Fatal(err)
	}
	a, err := Open(&f, int64(len(f.b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Open("big.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read %d bytes: %v", len(got), err)
	}
	e, _ := a.Stat("big.bin")

	// Corrupt before Open: refused up front.
	f.b[e.Pos+10] ^= 1
	if _, err := a.Open("big.bin"); !errors.Is(err, errdefs.ErrInvalidSignature) {
		t.Errorf("corrupt file opened: %v", err)
	}
	f.b[e.Pos+10] ^= 1
	// Corrupt between the check and the read: the read ends in an error.
	r, err = a.Open("big.bin")
	if err != nil {
		t.Fatal(err)
	}
	f.b[e.Pos+e.Size-1] ^= 1
	if _, err := io.ReadAll(r); !errors.Is(err, errdefs.ErrInvalidSignature) {
		t.Errorf("changed file read cleanly: %v", err)
	}
	if _, err := a.ReadFile("big.bin", 10); err == nil {
		t.Error("ReadFile ignored its limit")
	}
	if _, err := a.Open("nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCheckProblems(t *testing.T) {
	pkg := testPackage(t, 10)
	m := pkg.Manifest
	pkg.Images = []PackageImage{
		{ID: "main", Arch: "x86_64", Source: BytesSource(fakeImage(t, "start9/hello/main:9.9.9", "amd64", nil))},
		{ID: "tools", Arch: "x86_64", Source: BytesSource(fakeImage(t, manifest.DockerTag(m.ID, "tools", m.Version), "arm64", nil))},
		{ID: "main", Arch: "aarch64", Source: BytesSource([]byte("not a tar"))},
	}
	pkg.Assets["unknown/x"] = BytesSource([]byte("x"))
	data, _ := writePackage(t, pkg)
	a, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	problems := a.Check(nil)
	want := []string{
		"images/aarch64/tools.tar: missing",
		"assets/unknown: no assets volume",
		"images/x86_64/main.tar: image is tagged",
		"images/x86_64/tools.tar: image is for linux/arm64, not amd64",
		"images/aarch64/main.tar: not a Docker image archive",
	}
	text := ""
	for _, p := range problems {
		text += p.String() + "\n"
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing problem %q in:\n%s", w, text)
		}
	}
	if len(problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(problems), len(want), text)
	}

	// An invalid manifest is reported, when the archive is opened laxly.
	b := NewBuilder()
	bad := bytes.Replace(mustArchived(t), []byte(`"title": "Hello"`), []byte(`"title": ""`), 1)
	_ = b.Add(ManifestPath, BytesSource(bad))
	var f memFile
	if _, err := b.WriteTo(&f, testKey(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(&f, int64(len(f.b)), nil); !errors.Is(err, errdefs.ErrValidateS9pk) {
		t.Errorf("invalid manifest opened: %v", err)
	}
	a, err = Open(&f, int64(len(f.b)), &Options{LaxManifest: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.Manifest() != nil || a.ManifestErr() == nil {
		t.Error("lax open hid the manifest error")
	}
	text = ""
	for _, p := range a.Check(nil) {
		text += p.String() + "\n"
	}
	for _, w := range []string{"manifest.json: title: required", "icon:", "LICENSE.md: missing", "instructions.md: missing"} {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "developer.key.pem")
	key, err := CreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %o", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Dir(p)); st.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %o", st.Mode().Perm())
	}
	loaded, err := LoadKey(p)
	if err != nil || !loaded.Equal(key) {
		t.Fatalf("load: %v", err)
	}
	if _, err := CreateKey(p); !errors.Is(err, errdefs.ErrDuplicate) {
		t.Errorf("overwrote a key: %v", err)
	}
	pem, _ := os.ReadFile(p)
	if !bytes.HasPrefix(pem, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Errorf("not PKCS#8 PEM:\n%s", pem)
	}
	pub, err := MarshalPublicKey(key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePublicKey(pub)
	if err != nil || !back.Equal(key.Public()) {
		t.Errorf("public key round trip: %v", err)
	}
	if _, err := ParsePrivateKey(pub); err == nil {
		t.Error("public key read as private")
	}
	if _, err := ParsePublicKey([]byte("garbage")); err == nil {
		t.Error("garbage read as a key")
	}
	os.Chmod(p, 0o644)
	if _, err := LoadKey(p); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Errorf("world-readable key loaded: %v", err)
	}
	if _, err := LoadKey(filepath.Join(dir, "none.pem")); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing key: %v", err)
	}
}

// manifest and s9pk are imported by the daemon's installer and by start-sdk;
// neither may pull in the Docker client or the database.
func TestDependencyRule(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/startos-go/startos/startos/s9pk", "github.com/startos-go/startos/startos/manifest").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/docker/", "github.com/moby/", "go.etcd.io/bbolt"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("s9pk or manifest imports %s", dep)
			}
		}
	}
}
