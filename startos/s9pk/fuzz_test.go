package s9pk

import (
	"bytes"
	"testing"
)

// FuzzReadArchive feeds arbitrary bytes to Open and to the stream verifier.
// Its corpus lives in testdata/fuzz/FuzzReadArchive. Neither may panic, and
// they must agree: an archive one accepts, the other accepts with the same
// commitment.
func FuzzReadArchive(f *testing.F) {
	data, _ := writePackage(f, smallPackage(f))
	f.Add(data)
	f.Add(data[:HeaderSize+10])
	key := testKey(f)
	f.Add(rawArchive(f, key, []rawFile{{ManifestPath, mustArchived(f)}}, []rawFile{{"x", []byte("y")}}))
	f.Add(rawArchive(f, key, []rawFile{{"..", nil}}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, openErr := Open(bytes.NewReader(data), int64(len(data)), nil)
		if openErr == nil {
			openErr = a.VerifyAll(nil)
			_ = a.Check(nil)
		}
		s, streamErr := streamVerify(data, 1000)
		if (openErr == nil) != (streamErr == nil) {
			t.Fatalf("Open says %v, the stream verifier says %v", openErr, streamErr)
		}
		if openErr == nil && s.Commitment != a.Commitment() {
			t.Fatalf("commitments differ")
		}
	})
}
