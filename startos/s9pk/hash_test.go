package s9pk

import (
	"math/rand/v2"
	"testing"

	"lukechampine.com/blake3"
)

// TestSerialHasher checks serialHasher against the library's BLAKE3 for
// lengths around every boundary of the tree (block, chunk, SIMD group and
// their multiples), written in pieces of random sizes.
func TestSerialHasher(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 600<<10)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	var sizes []int
	for _, unit := range []int{64, 1024, groupSize} {
		for _, k := range []int{1, 2, 3, 4, 5, 16, 17, 32, 33} {
			if n := unit * k; n <= len(data) {
				sizes = append(sizes, n-1, n, n+1)
			}
		}
	}
	sizes = append(sizes, 0, len(data))
	for range 100 {
		sizes = append(sizes, rng.IntN(len(data)+1))
	}
	var h serialHasher
	for _, n := range sizes {
		want := blake3.Sum256(data[:n])
		for _, maxPiece := range []int{1 << 20, groupSize, 3000} {
			h.Reset()
			for p := data[:n]; len(p) > 0; {
				k := min(len(p), 1+rng.IntN(maxPiece))
				_, _ = h.Write(p[:k])
				p = p[k:]
			}
			if got := h.Sum256(); got != want {
				t.Fatalf("%d bytes in pieces of up to %d: got %x, want %x", n, maxPiece, got, want)
			}
			if again := h.Sum256(); again != want {
				t.Fatalf("%d bytes: a second Sum256 gave %x", n, again)
			}
		}
	}
}

func BenchmarkSerialHasher(b *testing.B) {
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	var h serialHasher
	for b.Loop() {
		_, _ = h.Write(buf)
	}
}
