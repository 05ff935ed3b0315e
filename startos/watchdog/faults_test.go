package watchdog

// Fault injection with real time, real files and real processes. Each fault
// comes with a control that shows the fault is real.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/startos/model"
)

const (
	childEnv      = "WATCHDOG_TEST_CHILD"
	childDirEnv   = "WATCHDOG_TEST_DIR"
	childPauseEnv = "WATCHDOG_TEST_PAUSEGAP"
	pipeSize      = 4096
)

// fastConfig is for in-process tests on the real clock: short enough to be
// quick, long enough that a loaded 2-core machine under -race does not miss.
func fastConfig(t *testing.T) Config {
	return Config{Tick: 25 * time.Millisecond, Miss: 300 * time.Millisecond, Megamiss: 500 * time.Millisecond, Kill: time.Hour,
		Dir: t.TempDir(), Logger: testLogger(t), Exit: func(code int) { t.Errorf("exit(%d) in an in-process test", code) }}
}

// megamissed returns a hook that reports each megamiss dump path on a channel.
func megamissed() (func(string, string), chan [2]string) {
	ch := make(chan [2]string, 16)
	return func(probe, path string) {
		select {
		case ch <- [2]string{probe, path}:
		default:
		}
	}, ch
}

func waitHook(t *testing.T, ch chan [2]string, probe string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case h := <-ch:
			if h[0] == probe {
				if h[1] == "" {
					t.Fatalf("megamiss of %s without a dump", probe)
				}
				return h[1]
			}
		case <-deadline:
			t.Fatalf("no megamiss for %s", probe)
		}
	}
}

// holdPackageLock stands for library code that takes a lock and never lets
// go; the dump has to name it.
func holdPackageLock(m *Mutex, locked chan<- struct{}, release <-chan struct{}) {
	m.Lock()
	close(locked)
	<-release
	m.Unlock()
}

func TestMutexHeldForever(t *testing.T) {
	cfg := fastConfig(t)
	hook, hooks := megamissed()
	cfg.OnMegamiss = hook
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := w.NewMutex("pkg-lock")
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	locked, release := make(chan struct{}), make(chan struct{})
	go holdPackageLock(m, locked, release)
	<-locked
	var waiters sync.WaitGroup
	for range 3 {
		waiters.Go(func() { m.Lock(); m.Unlock() }) //nolint:staticcheck // queueing on the lock is the point
	}
	path := waitHook(t, hooks, "pkg-lock")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dump := string(b)
	holder := m.holder.Load()
	if holder == nil {
		t.Fatal("no holder recorded")
	}
	for _, want := range []string{
		fmt.Sprintf("pkg-lock: goroutine %d, held for", holder.goid),
		"watchdog.holdPackageLock\n",               // the holder's function, in the lock holders section
		fmt.Sprintf("goroutine %d [", holder.goid), // and its goroutine in the full dump
		"sync.(*Mutex).Lock",                       // the waiters queued behind it
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump lacks %q", want)
		}
	}
	var p model.ProbeStatus
	for _, ps := range w.Status().Probes {
		if ps.Name == "pkg-lock" {
			p = ps
		}
	}
	if p.Kind != "mutex" || !strings.Contains(p.Detail, "holdPackageLock") || !strings.Contains(p.LastError, "holdPackageLock") {
		t.Errorf("status %+v does not name the holder", p)
	}
	close(release)
	waiters.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// The control: a lock that is always held but changes hands is not a
// stall, though a bare TryLock fails nearly every time. It runs on the
// synctest clock so a loaded machine cannot starve it into a miss.
func TestMutexBusyIsNotStalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, err := New(fastConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		m, err := w.NewMutex("pkg-lock")
		if err != nil {
			t.Fatal(err)
		}
		w.Start()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // one worker, so nobody waits in Lock (not durable in a bubble)
			defer close(done)
			for {
				m.Lock()
				time.Sleep(40 * time.Millisecond)
				m.Unlock()
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
		var tries, fails int
		for range 300 {
			time.Sleep(5*time.Millisecond + 3*time.Microsecond)
			tries++
			if m.TryLock() {
				m.Unlock()
			} else {
				fails++
			}
		}
		close(stop)
		<-done
		if fails*10 < tries*9 {
			t.Fatalf("TryLock failed %d of %d times: the lock was not busy enough to test anything", fails, tries)
		}
		for _, p := range w.Status().Probes {
			if p.Misses != 0 {
				t.Errorf("%s missed %d times: a busy lock counted as stalled", p.Name, p.Misses)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// testPool is a plain worker pool of the kind the library runs.
type testPool struct {
	size   int
	jobs   chan func()
	busy   atomic.Int64
	queued atomic.Int64
	done   atomic.Uint64
	wg     sync.WaitGroup
}

func newTestPool(size int) *testPool {
	p := &testPool{size: size, jobs: make(chan func(), 1024)}
	for range size {
		p.wg.Go(func() {
			for job := range p.jobs {
				p.queued.Add(-1)
				p.busy.Add(1)
				job()
				p.busy.Add(-1)
				p.done.Add(1)
			}
		})
	}
	return p
}

func (p *testPool) submit(job func()) { p.queued.Add(1); p.jobs <- job }
func (p *testPool) close()            { close(p.jobs); p.wg.Wait() }

func (p *testPool) Stats() PoolStats {
	return PoolStats{Size: p.size, Busy: int(p.busy.Load()), Queued: int(p.queued.Load()), Completed: p.done.Load()}
}

func TestPoolAllWorkersBlocked(t *testing.T) {
	cfg := fastConfig(t)
	hook, hooks := megamissed()
	cfg.OnMegamiss = hook
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := newTestPool(4)
	if err := w.WatchPool("pool:install", Fatal, pool); err != nil {
		t.Fatal(err)
	}
	w.Start()
	block := make(chan struct{})
	for range 6 {
		pool.submit(func() { <-block })
	}
	path := waitHook(t, hooks, "pool:install")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "4/4 busy, 2 queued") {
		t.Errorf("dump header does not show the pool's state:\n%s", b[:min(len(b), 1500)])
	}
	close(block)
	pool.close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// The control: all workers busy all the time, but tasks finish. On the
// synctest clock, like the lock control.
func TestPoolBusyIsNotStalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, err := New(fastConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		pool := newTestPool(2)
		if err := w.WatchPool("pool:install", Fatal, pool); err != nil {
			t.Fatal(err)
		}
		w.Start()
		var samples, full int
		for range 300 {
			for pool.queued.Load() < 4 {
				pool.submit(func() { time.Sleep(20 * time.Millisecond) })
			}
			time.Sleep(5*time.Millisecond + 3*time.Microsecond)
			samples++
			if s := pool.Stats(); s.Busy == s.Size {
				full++
			}
		}
		pool.close()
		if full*10 < samples*9 {
			t.Fatalf("pool full in %d of %d samples: not busy enough to test anything", full, samples)
		}
		for _, p := range w.Status().Probes {
			if p.Misses != 0 {
				t.Errorf("%s missed %d times: a busy pool counted as stalled", p.Name, p.Misses)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// --- child processes ---

// childMain runs in a child test binary started by the tests below.
func childMain(mode string) int {
	dir := os.Getenv(childDirEnv)
	cfg := Config{Tick: 50 * time.Millisecond, Miss: 200 * time.Millisecond, Megamiss: 400 * time.Millisecond, Kill: time.Second, Dir: dir}
	if mode == "frozen" {
		// Room for a loaded machine: the test stops the child for 3 s.
		cfg.Miss, cfg.Megamiss, cfg.Kill = 500*time.Millisecond, time.Second, 2*time.Second
	}
	// A logger that writes straight to stderr and blocks with it: the
	// watchdog must not depend on it.
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "child", Output: os.Stderr, Level: hclog.Debug})
	switch mode {
	case "kill", "panic", "signals":
		wedgeStderr()
	}
	if mode == "panic" {
		panic("naive kill with a wedged stderr") // the runtime writes this to fd 2 first and hangs
	}
	if mode == "signals" {
		cfg.Kill = time.Hour
	}
	if mode == "frozen" {
		gap, err := time.ParseDuration(os.Getenv(childPauseEnv))
		if err != nil {
			fmt.Println("bad pause gap:", err)
			return 2
		}
		cfg.PauseGap = gap
	}
	w, err := New(cfg)
	if err != nil {
		fmt.Println("new:", err)
		return 2
	}
	switch mode {
	case "kill":
		w.AddProbe("stuck", Fatal, func(context.Context) error { select {} })
		w.Start()
		select {}
	case "signals":
		w.HandleSignals()
		w.Start()
		fmt.Println("ready")
		select {}
	case "frozen":
		if os.Getenv("NOTIFY_SOCKET")+os.Getenv("WATCHDOG_USEC")+os.Getenv("WATCHDOG_PID") == "" {
			fmt.Println("env-cleared")
		}
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		w.Start()
		w.Ready()
		<-term
		if err := w.Close(); err != nil {
			fmt.Println("close:", err)
			return 1
		}
		return 0
	}
	fmt.Println("unknown mode", mode)
	return 2
}

// wedgeStderr fills fd 2 (a pipe the parent never reads) and leaves a
// goroutine blocked in write(2), as a logger would be.
// Whole-page writes fill the one-page pipe to the byte, so the child can
// tell when it is full.
func wedgeStderr() {
	go func() {
		buf := bytes.Repeat([]byte("wedged stderr line\n"), pipeSize/19+1)[:pipeSize]
		for {
			if _, err := os.Stderr.Write(buf); err != nil {
				return
			}
		}
	}()
	size, err := unix.FcntlInt(2, unix.F_GETPIPE_SZ, 0)
	if err != nil {
		fmt.Println("stderr is not a pipe:", err)
		os.Exit(3)
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if n, err := unix.IoctlGetInt(2, unix.TIOCINQ /* FIONREAD */); err == nil && n >= size {
			return
		}
	}
	fmt.Println("stderr pipe never filled")
	os.Exit(3)
}

type child struct {
	cmd    *exec.Cmd
	dir    string
	stdout *bufio.Reader
	errR   *os.File // read end of the child's stderr; never read when wedged
	stderr *syncBuffer
	exited chan struct{}
	start  time.Time
}

// syncBuffer is the child's stderr as the test reads it while exec's
// goroutine writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startChild runs this test binary in mode. With wedged set, the child's
// stderr is a one-page pipe whose read end the parent holds and never reads.
func startChild(t *testing.T, mode string, wedged bool, env ...string) *child {
	t.Helper()
	c := &child{dir: t.TempDir(), exited: make(chan struct{}), stderr: new(syncBuffer)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childEnv+"="+mode, childDirEnv+"="+c.dir)
	c.cmd.Env = append(c.cmd.Env, env...)
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdout = bufio.NewReader(out)
	var errW *os.File
	if wedged {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, pipeSize); err != nil {
			t.Fatal(err)
		}
		c.errR, errW = r, w
		c.cmd.Stderr = w
	} else {
		c.cmd.Stderr = c.stderr
	}
	c.start = time.Now()
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if errW != nil {
		errW.Close() // the child has it
	}
	go func() {
		c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			c.cmd.Process.Kill()
			<-c.exited
		}
		if c.errR != nil {
			c.errR.Close() // held until here: a collected read end would turn the wedge into EPIPE
		}
	})
	return c
}

// wait waits up to d for the child to exit and returns its exit code, or -1.
func (c *child) wait(d time.Duration) (code int, after time.Duration) {
	select {
	case <-c.exited:
		return c.cmd.ProcessState.ExitCode(), time.Since(c.start)
	case <-time.After(d):
		return -1, time.Since(c.start)
	}
}

func (c *child) readLine(t *testing.T, want string) {
	t.Helper()
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := c.stdout.ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case r := <-ch:
		if strings.TrimSpace(r.line) != want {
			t.Fatalf("child said %q (%v), want %q; stderr: %s", r.line, r.err, want, c.stderr)
		}
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill() // ends the reader too
		<-ch
		t.Fatalf("child did not say %q within 10s", want)
	}
}

// stderrFull reports whether the wedged pipe is full to the last byte.
func (c *child) stderrFull(t *testing.T) bool {
	n, err := unix.IoctlGetInt(int(c.errR.Fd()), unix.TIOCINQ /* FIONREAD */)
	if err != nil {
		t.Fatal(err)
	}
	return n >= pipeSize
}

func readDumps(t *testing.T, dir, suffix string) []string {
	t.Helper()
	var out []string
	for _, f := range dumpFiles(t, dir) {
		if strings.HasSuffix(f, suffix) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	return out
}

// The kill path with stderr wedged and a logger blocked on it: the process
// exits with 70 within 5 s and leaves a non-empty dump. The control, a plain
// panic with the same wedge, hangs: the runtime writes to fd 2 first.
func TestKillPathWithWedgedStderr(t *testing.T) {
	t.Run("control: naive panic hangs", func(t *testing.T) {
		c := startChild(t, "panic", true)
		if code, after := c.wait(2 * time.Second); code != -1 {
			t.Fatalf("the naive panic exited (code %d after %s): the wedge is not real", code, after)
		}
		if !c.stderrFull(t) {
			t.Fatal("stderr pipe not full")
		}
	})
	t.Run("watchdog kill", func(t *testing.T) {
		c := startChild(t, "kill", true)
		code, after := c.wait(5 * time.Second)
		if code != ExitCode {
			t.Fatalf("exit code %d after %s, want %d within 5s", code, after, ExitCode)
		}
		t.Logf("child exited with %d after %s", code, after)
		if !c.stderrFull(t) {
			t.Fatal("stderr pipe not full: the child was not wedged")
		}
		kills := readDumps(t, c.dir, "-kill.txt")
		if len(kills) != 1 {
			t.Fatalf("%d kill dumps, want 1", len(kills))
		}
		d := kills[0]
		for _, want := range []string{`kill: probe "stuck" has not succeeded for`, "=== all goroutines", "watchdog.wedgeStderr"} {
			if !strings.Contains(d, want) {
				t.Errorf("kill dump (%d bytes) lacks %q", len(d), want)
			}
		}
	})
}

// SIGUSR1 dumps and SIGABRT kills while stderr and the logger are wedged.
func TestSignalsWithWedgedStderr(t *testing.T) {
	c := startChild(t, "signals", true)
	c.readLine(t, "ready")
	if err := c.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var dumps []string
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && len(dumps) == 0; time.Sleep(20 * time.Millisecond) {
		dumps = readDumps(t, c.dir, "-signal.txt")
	}
	if len(dumps) != 1 || !strings.HasPrefix(dumps[0], headerLine+"signal: SIGUSR1") || !strings.Contains(dumps[0], "watchdog.wedgeStderr") {
		t.Fatalf("SIGUSR1 dumps: %d, want one showing the wedged writer", len(dumps))
	}
	if err := c.cmd.Process.Signal(syscall.SIGABRT); err != nil {
		t.Fatal(err)
	}
	if code, after := c.wait(5 * time.Second); code != ExitCode {
		t.Fatalf("after SIGABRT: exit code %d after %s, want %d", code, after, ExitCode)
	}
	kills := readDumps(t, c.dir, "-kill.txt")
	if len(kills) != 1 || !strings.Contains(kills[0], "kill: SIGABRT received") {
		t.Fatalf("kill dumps after SIGABRT: %d", len(kills))
	}
}

type datagram struct {
	text string
	at   time.Time
}

func listenNotify(t *testing.T, dir string) (string, chan datagram) {
	t.Helper()
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan datagram, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			ch <- datagram{string(buf[:n]), time.Now()}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return path, ch
}

// expect waits up to d for the datagram text and returns how many WATCHDOG=1
// came before it.
func expect(t *testing.T, ch chan datagram, text string, d time.Duration) int {
	t.Helper()
	pings := 0
	deadline := time.After(d)
	for {
		select {
		case m := <-ch:
			if m.text == text {
				return pings
			}
			if m.text == "WATCHDOG=1" {
				pings++
			}
		case <-deadline:
			t.Fatalf("no %q within %s", text, d)
		}
	}
}

// expectPings waits up to d for n WATCHDOG=1. It asks for no rate: a loaded
// machine delays pings (and a starved probe rightly holds them back).
func expectPings(t *testing.T, ch chan datagram, n int, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for got := 0; got < n; {
		select {
		case m := <-ch:
			if m.text == "WATCHDOG=1" {
				got++
			}
		case <-deadline:
			t.Fatalf("%d of %d pings within %s", got, n, d)
		}
	}
}

// count drains ch for d and counts WATCHDOG=1.
func count(ch chan datagram, d time.Duration) int {
	n := 0
	deadline := time.After(d)
	for {
		select {
		case m := <-ch:
			if m.text == "WATCHDOG=1" {
				n++
			}
		case <-deadline:
			return n
		}
	}
}

// A frozen process (SIGSTOP): the pings stop, which is what systemd's
// WatchdogSec sees; after SIGCONT they resume and the late-tick rule keeps
// the in-process watchdog from killing. The control turns the rule off, and
// a freeze ends in a kill.
func TestFrozenProcess(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pauseGap string
		control  bool
	}{
		{"late-tick rule", "0s", false},
		{"control without the rule", "-1ns", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock, ch := listenNotify(t, t.TempDir())
			c := startChild(t, "frozen", false, "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=300000", childPauseEnv+"="+tc.pauseGap)
			c.readLine(t, "env-cleared")
			expect(t, ch, "READY=1", 5*time.Second)
			// freeze stops the child for 3 s, half a tick after a ping, when
			// no check is likely in flight: one that is would finish right
			// after SIGCONT and count as a fresh success.
			freeze := func() {
				expectPings(t, ch, 3, 5*time.Second)
				time.Sleep(25 * time.Millisecond)
				if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				count(ch, 100*time.Millisecond) // anything already on its way
				if n := count(ch, 3*time.Second); n != 0 {
					t.Fatalf("%d pings while the child was stopped", n)
				}
				if err := c.cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
			}
			if tc.control {
				// A check that was in flight despite the care above saves
				// the child once; freezing again shows the kill.
				for attempt := 1; attempt <= 3; attempt++ {
					freeze()
					if code, after := c.wait(3 * time.Second); code == ExitCode {
						return
					} else if code != -1 {
						t.Fatalf("control: exit code %d after %s, want %d; stderr:\n%s", code, after, ExitCode, c.stderr)
					}
					t.Logf("attempt %d: no kill (a check finished first); freezing again", attempt)
				}
				c.cmd.Process.Signal(syscall.SIGQUIT)
				c.wait(5 * time.Second)
				t.Fatalf("control: three freezes without a kill; stderr:\n%s", c.stderr)
			}
			freeze()
			expectPings(t, ch, 5, 5*time.Second)
			select {
			case <-c.exited:
				t.Fatalf("child exited with %d after SIGCONT: a false kill; stderr: %s", c.cmd.ProcessState.ExitCode(), c.stderr)
			default:
			}
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			expect(t, ch, "STOPPING=1", 5*time.Second)
			if code, _ := c.wait(5 * time.Second); code != 0 {
				t.Fatalf("exit code %d after SIGTERM, want 0; stderr: %s", code, c.stderr)
			}
			if !strings.Contains(c.stderr.String(), "process was paused") {
				t.Errorf("child did not log the pause; stderr: %s", c.stderr)
			}
		})
	}
}
