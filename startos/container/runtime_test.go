package container_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
)

func TestRuntime(t *testing.T) {
	c := testpkg.Engine(t)
	ctx := context.Background()
	pkg := testpkg.Build(t, c, testpkg.Options{Port: 1})
	id := pkg.Manifest.ID
	labels := map[string]string{testpkg.Label: id}
	netName := "startos-" + id

	netID, err := c.EnsureNetwork(ctx, netName, labels)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.EnsureNetwork(ctx, netName, labels)
	if err != nil || again != netID {
		t.Errorf("EnsureNetwork twice: %s %s %v", netID, again, err)
	}

	t.Run("run", func(t *testing.T) {
		res, err := c.Run(ctx, container.RunOptions{
			Spec:  container.Spec{Name: "startos." + id + ".run", Image: pkg.Tag, Cmd: []string{"action"}, Labels: labels, Network: "none"},
			Stdin: []byte(`{"name":"x"}`), Timeout: 30 * time.Second,
		})
		if err != nil || res.ExitCode != 0 || !strings.Contains(string(res.Stdout), `"message":"Hello, x"`) {
			t.Errorf("run: %+v %q %v", res, res.Stdout, err)
		}
		res, err = c.Run(ctx, container.RunOptions{Spec: container.Spec{Image: pkg.Tag, Cmd: []string{"fail"}, Labels: labels}, Timeout: 30 * time.Second})
		if err != nil || res.ExitCode != 3 || string(res.Stderr) != "something went wrong\n" {
			t.Errorf("failing run: %+v %q %v", res, res.Stderr, err)
		}
		start := time.Now()
		_, err = c.Run(ctx, container.RunOptions{Spec: container.Spec{Image: pkg.Tag, Cmd: []string{"sleep"}, Labels: labels}, Timeout: time.Second})
		if !errors.Is(err, errdefs.ErrTimeout) || time.Since(start) > 15*time.Second {
			t.Errorf("run past its deadline: %v after %s", err, time.Since(start))
		}
		if list, _ := c.ListContainers(ctx, testpkg.Label+"="+id); len(list) != 0 {
			t.Errorf("one-off containers left: %+v", list)
		}
	})

	name := "startos." + id
	cid, err := c.CreateContainer(ctx, container.Spec{
		Name: name, Image: pkg.Tag, Cmd: []string{"serve"}, Labels: labels, Network: netName, Init: true,
		StopTimeout: 2 * time.Second, Mounts: []container.Mount{{Source: t.TempDir(), Target: "/data"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.RemoveContainer(ctx, cid, true)
	if err := c.StartContainer(ctx, name); err != nil {
		t.Fatal(err)
	}
	st, err := c.InspectContainer(ctx, name)
	if err != nil || !st.Running || st.Name != name || st.Labels[testpkg.Label] != id || st.StartedAt.IsZero() {
		t.Fatalf("inspect: %+v %v", st, err)
	}

	t.Run("exec", func(t *testing.T) {
		res, err := c.Exec(ctx, name, container.ExecOptions{Cmd: []string{"/app", "migrate"}, Stdin: []byte("hi")})
		if err != nil || res.ExitCode != 0 || !strings.Contains(string(res.Stdout), `"input":"hi"`) {
			t.Errorf("exec: %+v %q %v", res, res.Stdout, err)
		}
		res, err = c.Exec(ctx, name, container.ExecOptions{Cmd: []string{"/app", "fail"}})
		if err != nil || res.ExitCode != 3 {
			t.Errorf("failing exec: %+v %v", res, err)
		}
		_, err = c.Exec(ctx, name, container.ExecOptions{Cmd: []string{"/app", "sleep"}, Timeout: 500 * time.Millisecond})
		if !errors.Is(err, errdefs.ErrTimeout) {
			t.Errorf("exec past its deadline: %v", err)
		}
	})

	t.Run("logs", func(t *testing.T) {
		var lines []container.LogLine
		deadline := time.Now().Add(10 * time.Second)
		for len(lines) == 0 && time.Now().Before(deadline) {
			lines = nil
			c.Logs(ctx, name, container.LogsOptions{}, func(l container.LogLine) error { lines = append(lines, l); return nil })
			time.Sleep(50 * time.Millisecond)
		}
		if len(lines) == 0 || lines[0].Text != testpkg.StartupLine || lines[0].Stream != "stdout" || lines[0].Time.IsZero() {
			t.Fatalf("logs: %+v", lines)
		}
		var after []container.LogLine
		c.Logs(ctx, name, container.LogsOptions{Since: lines[0].Time.Add(time.Nanosecond)}, func(l container.LogLine) error { after = append(after, l); return nil })
		if len(after) != 0 {
			t.Errorf("since after the only line: %+v", after)
		}
	})

	t.Run("stats", func(t *testing.T) {
		s, err := c.Stats(ctx, name)
		if err != nil || s.Memory == 0 || s.MemoryLimit < s.Memory {
			t.Errorf("stats %+v %v", s, err)
		}
	})

	t.Run("events and stop", func(t *testing.T) {
		ectx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		evs, errc := c.Events(ectx, testpkg.Label+"="+id, time.Time{}, "start", "die", "stop")
		// An exec makes exec_* events, which the filter leaves out.
		if res, err := c.Exec(ctx, name, container.ExecOptions{Cmd: []string{"/app", "health"}}); err != nil || res.ExitCode != 0 {
			t.Fatalf("exec: %+v %v", res, err)
		}
		if err := c.StopContainer(ctx, name, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		for ev := range evs {
			if !slices.Contains([]string{"start", "die", "stop"}, ev.Action) {
				t.Errorf("event %q passed a filter of start, die and stop", ev.Action)
			}
			if ev.Action == "die" && ev.Labels[testpkg.Label] == id {
				cancel()
			}
		}
		if err := <-errc; !errors.Is(err, errdefs.ErrCancelled) {
			t.Errorf("events ended with %v, want cancelled after the die event", err)
		}
		st, _ := c.InspectContainer(ctx, name)
		if st.Running || st.ExitCode != 0 {
			t.Errorf("after a graceful stop: %+v", st)
		}
	})

	if err := c.RemoveContainer(ctx, name, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InspectContainer(ctx, name); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("inspect removed container: %v", err)
	}
	if err := c.RemoveNetwork(ctx, netName); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveNetwork(ctx, netName); err != nil {
		t.Errorf("removing a missing network: %v", err)
	}
	if ok, err := c.NetworkExists(ctx, netName); ok || err != nil {
		t.Errorf("network exists after removal: %v %v", ok, err)
	}
}

func TestCreateRefusesBadSpec(t *testing.T) {
	c := testpkg.Engine(t)
	ctx := context.Background()
	if _, err := c.CreateContainer(ctx, container.Spec{Name: "x"}); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Errorf("no image: %v", err)
	}
	if _, err := c.CreateContainer(ctx, container.Spec{Name: "x", Image: "scratch", Ports: []container.PortBinding{{HostPort: 80, ContainerPort: 0}}}); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Errorf("port 0: %v", err)
	}
	if _, err := c.Exec(ctx, "x", container.ExecOptions{}); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Errorf("exec without a command: %v", err)
	}
}

// TestProbeBelowTheEngineMinimum: a probe timeout or start period under
// the engine's 1 ms minimum (a package's timeout, a daemon's zero grace) is
// raised to it, not refused, and the inspected probe still equals the one
// asked for, so the daemon does not recreate the container every pass.
func TestProbeBelowTheEngineMinimum(t *testing.T) {
	c := testpkg.Engine(t)
	ctx := context.Background()
	pkg := testpkg.Build(t, c, testpkg.Options{})
	want := &container.Probe{Cmd: []string{"/app", "health"}, Interval: 10 * time.Second, Timeout: 500 * time.Microsecond, StartPeriod: time.Nanosecond}
	name := "startos." + pkg.Manifest.ID + ".probe"
	cid, err := c.CreateContainer(ctx, container.Spec{Name: name, Image: pkg.Tag, Cmd: []string{"serve"},
		Labels: map[string]string{testpkg.Label: pkg.Manifest.ID}, Network: "none", Probe: want})
	if err != nil {
		t.Fatalf("create with a probe under the engine's minimum: %v", err)
	}
	defer c.RemoveContainer(ctx, cid, true)
	st, err := c.InspectContainer(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Probe == nil || st.Probe.Timeout != container.MinProbeDuration || st.Probe.StartPeriod != container.MinProbeDuration || st.Probe.Interval != 10*time.Second {
		t.Errorf("the engine's probe = %+v, want timeout and start period raised to %s", st.Probe, container.MinProbeDuration)
	}
	if !want.Equal(st.Probe) {
		t.Errorf("the inspected probe %+v does not equal the one asked for %+v", st.Probe, want)
	}
	if other := (&container.Probe{Cmd: want.Cmd, Interval: want.Interval, Timeout: 2 * time.Millisecond, StartPeriod: want.StartPeriod}); other.Equal(st.Probe) {
		t.Error("a probe with another timeout compares equal")
	}
}
