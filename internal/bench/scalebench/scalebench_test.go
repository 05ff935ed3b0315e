package scalebench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/service"
)

// A run with two packages prints both figures with their goals and leaves
// no container or network of its packages behind.
func TestRunSmallLeavesNothing(t *testing.T) {
	eng := testpkg.Engine(t)
	prefix := strings.TrimPrefix(testpkg.RandomID(), "testpkg-")
	prefix = "scaletest-" + prefix + "-"
	var out bytes.Buffer
	err := RunConfig(context.Background(), &out, Config{Packages: 2, Parallel: 2, Idle: time.Second, Prefix: prefix, Timeout: 5 * time.Minute})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"2 packages: boot reconcile to all running vs docker start of the 2", "2 packages: idle CPU of startd, RSS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := eng.ListContainers(ctx, service.LabelPackage)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if strings.HasPrefix(c.Labels[service.LabelPackage], prefix) {
			t.Errorf("container %s left behind", c.Name)
		}
	}
	nets, err := eng.ListNetworks(ctx, service.LabelPackage)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		if strings.HasPrefix(n.Labels[service.LabelPackage], prefix) {
			t.Errorf("network %s left behind", n.Name)
		}
	}
	if _, err := eng.Inspect(ctx, "start9/"+prefix+"000/main:0.1.0"); err == nil {
		t.Error("image of package 000 left behind")
	}
}
