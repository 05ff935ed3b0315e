package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
)

// TestEngineRestartKeepsServices restarts the real Docker Engine under a
// running startd: the service's container stops with the engine, and the
// daemon brings it back running and healthy once the engine answers again.
//
// It stops every container on the machine, so it runs only when
// STARTOS_TEST_ENGINE_RESTART=1 (CI sets it and runs this test alone, after
// the others), and only on an engine it can restart: a dockerd that is not
// managed by systemd.
func TestEngineRestartKeepsServices(t *testing.T) {
	if os.Getenv("STARTOS_TEST_ENGINE_RESTART") != "1" {
		t.Skip("restarts the Docker Engine: set STARTOS_TEST_ENGINE_RESTART=1 (CI does)")
	}
	eng := testpkg.Engine(t)
	pid := dockerdPID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	pkg := testpkg.Build(t, eng, testpkg.Options{Port: testpkg.FreePort(t)})
	id := pkg.Manifest.ID
	file := filepath.Join(t.TempDir(), "pkg.s9pk")
	pkg.WriteArchive(t, file)
	b := &box{t: t, bin: buildStartd(t), data: t.TempDir()}
	b.start()
	b.sideload(ctx, file)
	b.waitRunningHealthy(ctx, id, "0.1.0")
	before := onlyContainer(t, eng, id)

	t.Logf("stopping dockerd (pid %d) and starting it again", pid)
	restartDockerd(t, pid)
	waitEngine(t, eng)
	b.waitRunningHealthy(ctx, id, "0.1.0")
	after := onlyContainer(t, eng, id)
	if !after.StartedAt.After(before.StartedAt) {
		t.Fatalf("the container was not started again after the engine restart: %s then %s", before.StartedAt, after.StartedAt)
	}
	if err := b.c.Call(ctx, "package.uninstall", map[string]any{"id": id}, nil); err != nil {
		t.Fatal(err)
	}
}

// dockerdPID finds a dockerd this test may restart.
func dockerdPID(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("pidof", "dockerd").Output()
	fields := strings.Fields(string(out))
	if err != nil || len(fields) != 1 {
		t.Fatalf("want exactly one dockerd, pidof says %q (%v)", out, err)
	}
	pid, _ := strconv.Atoi(fields[0])
	if cg, _ := os.ReadFile("/proc/" + fields[0] + "/cgroup"); strings.Contains(string(cg), "docker.service") {
		t.Fatal("dockerd is managed by systemd here; restart it with systemctl instead")
	}
	return pid
}

// restartDockerd stops dockerd and starts a new one the way `just engine`
// does; the new one outlives the test.
func restartDockerd(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("dockerd did not stop within 60 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, err := os.OpenFile("/tmp/dockerd.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("dockerd")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Release()
}

func waitEngine(t *testing.T, eng *container.Client) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := eng.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine did not come back within 60 s: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
