package watchdog

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// WATCHDOG=1 is sent every half interval only while every Fatal probe
// passes; READY=1 and STOPPING=1 go out on Ready and Close; the variables
// are read from the environment and removed from it.
func TestSystemdNotify(t *testing.T) {
	sock, ch := listenNotify(t, t.TempDir())
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	cfg := fastConfig(t)
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s=%q still in the environment: children would inherit it", k, v)
		}
	}
	if w.wdInterval != 200*time.Millisecond || w.notify == nil {
		t.Fatalf("watchdog interval %s, notify %v: the environment was not read", w.wdInterval, w.notify)
	}
	s := &switchable{}
	if err := w.AddProbe("rpc", Fatal, s.check); err != nil {
		t.Fatal(err)
	}
	if err := w.AddProbe("sink", Degraded, failing(&switchable{}).check); err != nil {
		t.Fatal(err)
	}
	w.Start()
	w.Ready()
	if pings := expect(t, ch, "READY=1", 5*time.Second); pings > 1 {
		t.Logf("%d pings before READY=1", pings)
	}
	// A failing Degraded probe does not gate the pings. Every half interval
	// at most: never faster, though a loaded machine may make them slower.
	start := time.Now()
	expectPings(t, ch, 5, 5*time.Second)
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Fatalf("5 pings in %s: faster than every half WatchdogSec (100ms)", d)
	}
	s.fail.Store(true)
	count(ch, cfg.Miss+200*time.Millisecond) // until the Fatal probe is past its miss threshold
	if n := count(ch, time.Second); n != 0 {
		t.Fatalf("%d pings while a Fatal probe was failing", n)
	}
	s.fail.Store(false)
	expectPings(t, ch, 3, 5*time.Second)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, "STOPPING=1", time.Second)
}

func TestSystemdEnv(t *testing.T) {
	for _, tc := range []struct {
		name         string
		usec, pid    string
		wantInterval time.Duration
		wantErr      bool
	}{
		{"ours", "30000000", strconv.Itoa(os.Getpid()), 30 * time.Second, false},
		{"no pid", "1000000", "", time.Second, false},
		{"another process", "1000000", "1", 0, false},
		{"unset", "", "", 0, false},
		{"garbage", "soon", "", 0, true},
		{"zero", "0", "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", "@test")
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			sock, interval, err := systemdEnv()
			if (err != nil) != tc.wantErr || interval != tc.wantInterval || sock != "@test" {
				t.Fatalf("got %q %s %v; want interval %s, error %v", sock, interval, err, tc.wantInterval, tc.wantErr)
			}
			if os.Getenv("WATCHDOG_USEC") != "" || os.Getenv("NOTIFY_SOCKET") != "" {
				t.Fatal("variables left in the environment")
			}
		})
	}
}

// A notify socket with nobody listening costs a failed send, never a wait.
func TestNotifyWithoutListener(t *testing.T) {
	n := newNotifier(t.TempDir() + "/nobody.sock")
	start := time.Now()
	if err := n.send("WATCHDOG=1"); err == nil {
		t.Fatal("send to a missing socket succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("send took %s", d)
	}
	n.close()
}
