package s9pkbench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The benchmark runs end to end on a small image: every figure is printed
// and the image is removed afterwards.
func TestRunSmall(t *testing.T) {
	testpkg.Engine(t) // skips, or fails under CI, without an engine
	var out bytes.Buffer
	if err := run(context.Background(), &out, config{payload: 4 << 20, rounds: 1}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"docker save to a file", "s9pk pack to a file", "pack / save", "read (cat > /dev/null)", "Open + VerifyAll", "VerifyStream", "verify / read"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	c, err := container.Connect(context.Background(), container.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Inspect(context.Background(), "start9/s9pkbench/main:1.0.0"); err == nil {
		t.Error("the benchmark image was left behind")
	}
	t.Log("\n" + out.String())
}

// The full benchmark (a 200 MB image) runs with STARTOS_BENCH=1; `just bench`
// calls Run directly.
func TestRunFull(t *testing.T) {
	if os.Getenv("STARTOS_BENCH") != "1" {
		t.Skip("set STARTOS_BENCH=1 to run the full 200 MB benchmark")
	}
	testpkg.Engine(t) // skips, or fails under CI, without an engine
	var out bytes.Buffer
	if err := Run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
}
