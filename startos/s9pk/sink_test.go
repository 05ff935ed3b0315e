package s9pk

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
)

// recordSink keeps what a Verifier hands it.
type recordSink struct {
	got      bytes.Buffer
	verified bool
	failWith error
}

func (s *recordSink) Write(p []byte) (int, error) {
	if s.failWith != nil {
		return 0, s.failWith
	}
	return s.got.Write(p)
}

func (s *recordSink) Verified() error {
	s.verified = true
	return nil
}

// sinkVerify streams data through a Verifier in chunks, with a sink for
// every file whose path want accepts, and returns the sinks by path.
func sinkVerify(data []byte, chunk int, want func(string) bool) (map[string]*recordSink, *Summary, error) {
	sinks := map[string]*recordSink{}
	v := NewVerifier(nil)
	v.SinkFiles(func(e *Entry) FileSink {
		if !want(e.Path) {
			return nil
		}
		s := &recordSink{}
		sinks[e.Path] = s
		return s
	})
	for len(data) > 0 {
		n := min(chunk, len(data))
		if _, err := v.Write(data[:n]); err != nil {
			return sinks, nil, err
		}
		data = data[n:]
	}
	sum, err := v.Close()
	return sinks, sum, err
}

// Each sink gets exactly its file's bytes, whatever the chunking, and is
// told the file matched its hash; empty files get no sink.
func TestSinkFiles(t *testing.T) {
	pkg := testPackage(t, 100<<10)
	data, _ := writePackage(t, pkg)
	a, err := openAndVerify(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1 << 20, 4096, 777} {
		sinks, _, err := sinkVerify(data, chunk, func(string) bool { return true })
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		var want []string
		for _, e := range a.Files() {
			if e.Size > 0 {
				want = append(want, e.Path)
			}
		}
		if got := slices.Sorted(maps.Keys(sinks)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Fatalf("chunk %d: sinks for %v, want %v", chunk, got, want)
		}
		for p, s := range sinks {
			body, err := a.ReadFile(p, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s.got.Bytes(), body) || !s.verified {
				t.Errorf("chunk %d: %s: sink got %d bytes (verified %v), file has %d", chunk, p, s.got.Len(), s.verified, len(body))
			}
		}
	}
}

// A file whose bytes do not match its hash reaches its sink (that is the
// point of a sink) but is never declared verified, and the stream fails.
func TestSinkTampered(t *testing.T) {
	data, _ := writePackage(t, testPackage(t, 100<<10))
	a, err := openAndVerify(data)
	if err != nil {
		t.Fatal(err)
	}
	img, err := a.Stat("images/x86_64/main.tar")
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{img.Pos, img.Pos + img.Size/2, img.Pos + img.Size - 1} {
		bad := bytes.Clone(data)
		bad[off] ^= 0x10
		sinks, _, err := sinkVerify(bad, 4096, func(p string) bool { return p == img.Path })
		if !errors.Is(err, errdefs.ErrInvalidSignature) {
			t.Fatalf("byte %d: %v", off, err)
		}
		s := sinks[img.Path]
		if s == nil || s.verified {
			t.Fatalf("byte %d: sink %+v", off, s)
		}
		if int64(s.got.Len()) != img.Size {
			t.Errorf("byte %d: sink got %d of %d bytes before the hash was checked", off, s.got.Len(), img.Size)
		}
	}
}

// A sink that fails stops the stream.
func TestSinkFails(t *testing.T) {
	data, _ := writePackage(t, testPackage(t, 100<<10))
	boom := errors.New("engine gone")
	v := NewVerifier(nil)
	v.SinkFiles(func(e *Entry) FileSink {
		if e.Path == "images/x86_64/main.tar" {
			return &recordSink{failWith: boom}
		}
		return nil
	})
	_, err := v.Write(data)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if _, err := v.Close(); !errors.Is(err, boom) {
		t.Fatalf("close: %v", err)
	}
}
