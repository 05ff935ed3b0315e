package s9pk

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/startos-go/startos/startos/manifest"
)

// memFile is an in-memory io.WriterAt and io.ReaderAt.
type memFile struct{ b []byte }

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	copy(m.b[off:], p)
	return len(p), nil
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

const testManifestYAML = `
id: hello
title: Hello
version: 1.2.3.4
release-notes: first
license: mit
wrapper-repo: https://example.com/wrapper
upstream-repo: https://example.com/upstream
description:
  short: says hello
  long: says hello, at length
images:
  main: {}
  tools: {}
main:
  type: docker
  image: main
  entrypoint: /app
  mounts:
    data: /data
health-checks:
  web:
    name: Web
    type: docker
    image: main
    inject: true
    entrypoint: /app
    args: [health]
volumes:
  data:
    type: data
  static:
    type: assets
interfaces:
  main:
    name: Web
    description: the web page
    lan-config:
      443:
        ssl: true
        internal: 8080
    ui: true
    protocols: [tcp, http]
backup:
  create:
    type: docker
    image: tools
    entrypoint: /backup
    mounts:
      BACKUP: /mnt/backup
      data: /data
  restore:
    type: docker
    image: tools
    entrypoint: /restore
    mounts:
      BACKUP: /mnt/backup
      data: /data
actions:
  greet:
    name: Greet
    description: says hello
    allowed-statuses: [running]
    implementation:
      type: docker
      image: main
      inject: true
      entrypoint: /app
      args: [greet]
      io-format: json
`

func testManifest(t testing.TB) *manifest.Manifest {
	t.Helper()
	m, _, err := manifest.Parse([]byte(testManifestYAML))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	return ed25519.NewKeyFromSeed(seed)
}

// fakeImage writes a docker save archive holding one image with one layer.
func fakeImage(t testing.TB, tag, arch string, payload []byte) []byte {
	t.Helper()
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	writeTar(t, lw, "app", payload)
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": arch, "os": "linux", "config": map[string]any{"Entrypoint": []string{"/app"}}})
	man, _ := json.Marshal([]map[string]any{{"Config": "cfg.json", "RepoTags": []string{tag}, "Layers": []string{"layer/layer.tar"}}})
	var out bytes.Buffer
	w := tar.NewWriter(&out)
	writeTar(t, w, "layer/layer.tar", layer.Bytes())
	writeTar(t, w, "cfg.json", cfg)
	writeTar(t, w, "manifest.json", man)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func writeTar(t testing.TB, w *tar.Writer, name string, data []byte) {
	t.Helper()
	if err := w.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
}

// testPackage is a package with two images for one architecture and assets.
func testPackage(t testing.TB, imageSize int) *Package {
	t.Helper()
	m := testManifest(t)
	payload := bytes.Repeat([]byte("0123456789abcdef"), imageSize/16+1)[:imageSize]
	return &Package{
		Manifest:     m,
		Icon:         BytesSource([]byte("\x89PNG fake icon")),
		License:      BytesSource([]byte("MIT License\n")),
		Instructions: BytesSource([]byte("# Hello\nRun it.\n")),
		Assets: map[string]Source{
			"static/index.html":    BytesSource([]byte("<h1>hello</h1>")),
			"static/css/site.css":  BytesSource([]byte("h1{}")),
			"static/empty.txt":     BytesSource(nil),
			"static/img/empty.png": BytesSource(nil),
		},
		Images: []PackageImage{
			{ID: "main", Arch: "x86_64", Source: BytesSource(fakeImage(t, manifest.DockerTag(m.ID, "main", m.Version), "amd64", payload))},
			{ID: "tools", Arch: "x86_64", Source: BytesSource(fakeImage(t, manifest.DockerTag(m.ID, "tools", m.Version), "amd64", []byte("tools")))},
		},
	}
}

func writePackage(t testing.TB, pkg *Package) ([]byte, *Result) {
	t.Helper()
	var f memFile
	res, err := WritePackage(&f, testKey(t), pkg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != int64(len(f.b)) {
		t.Fatalf("result size %d, wrote %d", res.Size, len(f.b))
	}
	return f.b, res
}

// openAndVerify opens data and reads every file.
func openAndVerify(data []byte) (*Archive, error) {
	a, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		return nil, err
	}
	return a, a.VerifyAll(nil)
}

func streamVerify(data []byte, chunk int) (*Summary, error) {
	v := NewVerifier(nil)
	for len(data) > 0 {
		n := min(chunk, len(data))
		if _, err := v.Write(data[:n]); err != nil {
			return nil, err
		}
		data = data[n:]
	}
	return v.Close()
}

// rawFile is a file for rawArchive, which skips the Builder's checks so
// tests can write archives no honest writer would.
type rawFile struct {
	name string
	data []byte
}

// rawArchive writes a signed archive whose root holds files and, when sub is
// not nil, a directory "sub" holding those files.
func rawArchive(t testing.TB, key ed25519.PrivateKey, root []rawFile, sub []rawFile) []byte {
	t.Helper()
	var out memFile
	off := int64(HeaderSize)
	rootLen := varintLen(uint64(len(root)))
	for _, f := range root {
		rootLen += entryLen(f.name, typeFile)
	}
	if sub != nil {
		rootLen += entryLen("sub", typeDir)
	}
	rootPos := off
	off += rootLen
	var subPos, subLen int64
	if sub != nil {
		subPos = off
		subLen = varintLen(uint64(len(sub)))
		for _, f := range sub {
			subLen += entryLen(f.name, typeFile)
		}
		off += subLen
	}
	place := func(files []rawFile) []tocEntry {
		var es []tocEntry
		for _, f := range files {
			var h [32]byte
			copy(h[:], blake3Sum(f.data))
			es = append(es, tocEntry{name: f.name, hash: h, size: uint64(len(f.data)), typ: typeFile, pos: uint64(off)})
			out.WriteAt(f.data, off)
			off += int64(len(f.data))
		}
		return es
	}
	rootEntries := place(root)
	if sub != nil {
		subEntries := place(sub)
		out.WriteAt(appendTOC(nil, subEntries), subPos)
		rootEntries = append([]tocEntry{{name: "sub", hash: sighash(subEntries), size: uint64(subLen), typ: typeDir, pos: uint64(subPos), tocSize: uint64(subLen)}}, rootEntries...)
	}
	toc := appendTOC(nil, rootEntries)
	if int64(len(toc)) != rootLen {
		t.Fatalf("root table %d bytes, expected %d", len(toc), rootLen)
	}
	out.WriteAt(toc, rootPos)
	c := Commitment{RootSighash: sighash(rootEntries), RootMaxSize: uint64(rootLen)}
	out.WriteAt(rawHeader(t, key, c, rootPos, rootLen), 0)
	return out.b
}

func rawHeader(t testing.TB, key ed25519.PrivateKey, c Commitment, pos, n int64) []byte {
	t.Helper()
	sig, err := sign(key, c)
	if err != nil {
		t.Fatal(err)
	}
	h := append([]byte{}, Magic[:]...)
	h = append(h, key.Public().(ed25519.PublicKey)...)
	h = append(h, sig...)
	h = append(h, c.RootSighash[:]...)
	h = fmt.Appendf(h, "%s", be64(c.RootMaxSize))
	h = fmt.Appendf(h, "%s", be64(uint64(pos)))
	h = fmt.Appendf(h, "%s", be64(uint64(n)))
	return h
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}
