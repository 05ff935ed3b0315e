package auth

import (
	"context"
	"runtime"
	"testing"
)

// A hash's 64 MiB goes back to the OS when it is done: without that, the
// heap stays grown to it (152 MB RSS after setup and one login).
func TestHashReturnsItsMemory(t *testing.T) {
	if _, err := HashPassword(context.Background(), "correct horse battery", DefaultParams); err != nil {
		t.Fatal(err)
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if held := m.HeapSys - m.HeapReleased; held > 32<<20 {
		t.Fatalf("the heap holds %d MiB from the OS after a hash of %d MiB", held>>20, DefaultParams.Memory>>10)
	}
}
