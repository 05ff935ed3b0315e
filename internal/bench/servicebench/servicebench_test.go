package servicebench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/startos-go/startos/internal/testpkg"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The benchmark runs end to end, one round and a few calls: every figure
// is printed and nothing is left in the engine.
func TestRunSmall(t *testing.T) {
	c := testpkg.Engine(t)
	var out bytes.Buffer
	if err := run(context.Background(), &out, config{rounds: 1, listCalls: 20}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"package.start (library)", "docker start + exec probe", "rpc over the unix socket", "goal     package.list"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, name := range []string{"startos.servicebench", "servicebench-yardstick"} {
		if _, err := c.InspectContainer(context.Background(), name); err == nil {
			t.Errorf("container %s is left in the engine", name)
		}
	}
}
