package container_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExec reports this process's CPU per health-check-like exec: the
// cost startd pays for each check.
func BenchmarkExec(b *testing.B) {
	c := testpkg.Engine(b)
	ctx := context.Background()
	pkg := testpkg.Build(b, c, testpkg.Options{Port: 1})
	id := pkg.Manifest.ID
	name := "startos." + id
	cid, err := c.CreateContainer(ctx, container.Spec{
		Name: name, Image: pkg.Tag, Cmd: []string{"serve"}, Labels: map[string]string{testpkg.Label: id}, Network: "none", Init: true,
		StopTimeout: 2 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.RemoveContainer(ctx, cid, true)
	if err := c.StartContainer(ctx, name); err != nil {
		b.Fatal(err)
	}
	for range 5 {
		c.Exec(ctx, name, container.ExecOptions{Cmd: []string{"/app", "health"}})
	}
	b.ResetTimer()
	cpu := cpuNow()
	for range b.N {
		res, err := c.Exec(ctx, name, container.ExecOptions{Cmd: []string{"/app", "health"}})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
}
