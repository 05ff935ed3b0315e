package installbench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/manifest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The benchmark runs end to end on a small image: every figure is printed
// and the image is removed afterwards.
func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := container.Connect(ctx, container.Options{})
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("STARTOS_REQUIRE_DOCKER") == "1" {
			t.Fatalf("Docker Engine required: %v", err)
		}
		t.Skipf("no Docker Engine: %v", err)
	}
	defer c.Close()
	var out bytes.Buffer
	if err := run(context.Background(), &out, config{payload: 2 << 20, rounds: 1}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"docker load", "sideload install", "install / load", "registry install"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := c.Inspect(context.Background(), manifest.DockerTag("installbench", "main", manifest.MustParseVersion("1.0.0"))); err == nil {
		t.Error("the benchmark image is left in the engine")
	}
}
