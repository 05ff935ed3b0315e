package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/rpc"
)

// TestOutOfDescriptorsDoesNotEndStartd: with its file descriptor limit
// lowered under it (prlimit on the running process), a flood of unix socket
// connections makes accept fail with EMFILE; startd logs it, keeps retrying,
// and serves again once the flood ends. It used to exit.
func TestOutOfDescriptorsDoesNotEndStartd(t *testing.T) {
	bin := buildStartd(t)
	data := t.TempDir()
	p := startStartd(t, bin, data)
	pid := p.Cmd.Process.Pid

	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	limit := uint64(len(fds) + 16)
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Fatalf("prlimit on startd: %v (this test needs root or CAP_SYS_RESOURCE)", err)
	}

	// Each connection the daemon accepts costs it a descriptor; past the
	// limit the rest wait in the backlog while accept fails.
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 64 {
		c, err := net.DialTimeout("unix", p.Sock, 5*time.Second)
		if err != nil {
			t.Fatalf("flood connection: %v", err)
		}
		flood = append(flood, c)
	}
	logFile := filepath.Join(data, "logs", "startd.log")
	deadline := time.Now().Add(30 * time.Second)
	for !logContains(logFile, "unix socket accept failed") {
		if time.Now().After(deadline) {
			t.Fatal("startd never logged an accept failure: the descriptor limit was not reached")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range flood {
		c.Close()
	}
	flood = nil

	// Served again: the socket (retrying with at most 1 s between tries)
	// and the TCP listener.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, target := range []string{"unix://" + p.Sock, p.HTTP} {
		var lastErr error
		for ctx.Err() == nil {
			if lastErr = echo(ctx, target); lastErr == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if lastErr != nil {
			t.Fatalf("%s after the flood: %v", target, lastErr)
		}
	}
	if err := p.Stop(t); err != nil {
		t.Fatalf("startd exit: %v", err)
	}
}

func echo(ctx context.Context, target string) error {
	callCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := rpc.Dial(callCtx, target, rpc.ClientOptions{})
	if err != nil {
		return err
	}
	defer c.Close()
	var out string
	return c.Call(callCtx, "echo", map[string]string{"message": "x"}, &out)
}

func logContains(path, s string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return true
		}
	}
	return false
}
