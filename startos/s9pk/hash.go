package s9pk

import (
	"math/bits"

	"lukechampine.com/blake3/guts"
)

// groupSize is what one SIMD pass of BLAKE3 compresses: 16 chunks of 1 KiB.
const groupSize = guts.MaxSIMD * guts.ChunkSize

// serialHasher is unkeyed BLAKE3-256 computed on the calling goroutine
// alone, for hashing that runs beside I/O. blake3.Hasher starts goroutines
// for every write longer than a chunk; alongside a stream those contend with
// the reader, the writer and the Docker Engine for the cores, and move each
// buffer to another core's cache, which cost more than they saved. Results
// match blake3.Sum256 (see TestSerialHasher).
type serialHasher struct {
	stack   [64][8]uint32 // subtree chaining values, one per height
	counter uint64        // chunks folded into stack; its bits say which heights are set
	buf     [groupSize]byte
	buflen  int
}

// Write adds p to the hash. It never fails.
func (h *serialHasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if h.buflen == groupSize {
			// More input follows, so the buffered group is not the last.
			h.push(&h.buf)
			h.buflen = 0
		}
		if h.buflen == 0 {
			// Whole groups straight from p, holding back the last: the
			// final group is compressed differently (as the root's).
			for len(p) > groupSize {
				h.push((*[groupSize]byte)(p[:groupSize]))
				p = p[groupSize:]
			}
		}
		k := copy(h.buf[h.buflen:], p)
		h.buflen += k
		p = p[k:]
	}
	return n, nil
}

// push folds a full group that is not the last into the stack.
func (h *serialHasher) push(b *[groupSize]byte) {
	const height = 4 // a group is a subtree of 2^4 chunks
	cv := guts.ChainingValue(guts.CompressBuffer(b, groupSize, &guts.IV, h.counter, 0))
	i := height
	for ; h.counter&(1<<i) != 0; i++ {
		cv = guts.ChainingValue(guts.ParentNode(h.stack[i], cv, &guts.IV, 0))
	}
	h.stack[i] = cv
	h.counter += 1 << height
}

// Sum256 returns the hash of what was written. It does not change h.
func (h *serialHasher) Sum256() (sum [32]byte) {
	n := guts.CompressBuffer(&h.buf, h.buflen, &guts.IV, h.counter, 0)
	for i := bits.TrailingZeros64(h.counter); i < bits.Len64(h.counter); i++ {
		if h.counter&(1<<i) != 0 {
			n = guts.ParentNode(h.stack[i], guts.ChainingValue(n), &guts.IV, 0)
		}
	}
	n.Flags |= guts.FlagRoot
	out := guts.WordsToBytes(guts.CompressNode(n))
	copy(sum[:], out[:])
	return sum
}

// Reset empties h.
func (h *serialHasher) Reset() {
	h.counter, h.buflen = 0, 0
}
