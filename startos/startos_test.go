package startos

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/model"
)

func open(t *testing.T, dir string) (*Server, error) {
	t.Helper()
	return Open(context.Background(), Config{DataDir: dir, Stderr: io.Discard})
}

func TestOneServerPerDataDir(t *testing.T) {
	dir := t.TempDir()
	s, err := open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = open(t, dir)
	if !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("second open: %v, want ErrDataDirInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	s2, err := open(t, dir)
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	s2.Close()
}

func TestOpenNeedsDataDir(t *testing.T) {
	if _, err := Open(context.Background(), Config{}); err == nil || !strings.Contains(err.Error(), "data dir") {
		t.Fatalf("err = %v", err)
	}
}

func TestInfoMethods(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), Stderr: io.Discard, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now = start.Add(90 * time.Second)
	st, _ := s.Time(context.Background())
	if st.Uptime != 90 || !st.Now.Equal(now) {
		t.Fatalf("time = %+v", st)
	}
	di, err := s.DeviceInfo(context.Background())
	if err != nil || di.Hardware.RAM == 0 || di.Hardware.Arch == "" || di.OS.Version != Version || di.Hostname == "" {
		t.Fatalf("device info = %+v, %v", di, err)
	}
	if got, _ := s.Echo(context.Background(), model.EchoParams{Message: "x"}); got != "x" {
		t.Fatalf("echo = %q", got)
	}
}
