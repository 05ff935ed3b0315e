package backupbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
)

// The benchmark runs end to end on a small volume and prints every figure.
func TestRunSmall(t *testing.T) {
	testpkg.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, 8<<20); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"first backup", "after a 1% change", "restore", "downtime"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q figure in:\n%s", want, out.String())
		}
	}
}
