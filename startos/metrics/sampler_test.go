package metrics

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

func TestNewRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeTree(t, dir, map[string]string{"file": "x"})
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no data dir", Options{}, "DataDir is empty"},
		{"missing data dir", Options{DataDir: filepath.Join(dir, "nope")}, "DataDir: stat"},
		{"data dir is a file", Options{DataDir: file}, "DataDir " + file + " is not a directory"},
		{"cpu interval below a tick", Options{DataDir: dir, CPUEvery: time.Millisecond}, "CPUEvery 1ms is shorter than 10ms"},
		{"negative cpu interval", Options{DataDir: dir, CPUEvery: -time.Second}, "CPUEvery -1s"},
		{"negative disk interval", Options{DataDir: dir, DiskEvery: -time.Second}, "DiskEvery -1s is negative"},
		{"negative queue", Options{DataDir: dir, FollowQueue: -1}, "FollowQueue -1 is negative"},
		{"missing proc", Options{DataDir: dir, HostProc: filepath.Join(dir, "proc")}, "HostProc: stat"},
		{"sys is a file", Options{DataDir: dir, HostSys: file}, "HostSys " + file + " is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("New accepted the options")
			}
			if !errors.Is(err, errdefs.ErrInvalidRequest) {
				t.Errorf("error %v does not wrap ErrInvalidRequest", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestRealSampler samples this machine and checks the figures against what
// the kernel says directly.
func TestRealSampler(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Options{DataDir: dir, CPUEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSampler(t, s)
	if _, ok := s.Latest(); ok {
		t.Fatal("Latest has a sample before Start")
	}
	s.Start()
	s.Start() // harmless
	var m model.Metrics
	waitFor(t, "the first sample", func() bool {
		var ok bool
		m, ok = s.Latest()
		return ok
	})

	if age := time.Since(m.SampledAt); m.SampledAt.IsZero() || age < 0 || age > time.Minute {
		t.Errorf("sampledAt %v is not a recent time", m.SampledAt)
	}
	num := func(name string, v model.MetricValue, unit string) float64 {
		t.Helper()
		if v.Unit != unit {
			t.Errorf("%s unit %q, want %q", name, v.Unit, unit)
		}
		if i := strings.IndexByte(v.Value, '.'); i < 0 || len(v.Value)-i != 2 {
			t.Errorf("%s value %q does not have one decimal", name, v.Value)
		}
		f, err := v.Float()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	pct := func(name string, v model.MetricValue) float64 {
		t.Helper()
		f := num(name, v, "%")
		if f < 0 || f > 100 {
			t.Errorf("%s = %v%%, outside 0..100", name, f)
		}
		return f
	}

	used, idle := pct("cpu.percentageUsed", m.CPU.PercentageUsed), pct("cpu.idle", m.CPU.Idle)
	user, kernel, wait := pct("cpu.userSpace", m.CPU.UserSpace), pct("cpu.kernelSpace", m.CPU.KernelSpace), pct("cpu.wait", m.CPU.Wait)
	if sum := user + kernel + idle + wait; sum > 100.3 {
		t.Errorf("cpu parts add up to %v%%", sum)
	}
	if sum := used + idle + wait; sum < 99.7 || sum > 100.3 {
		t.Errorf("used %v + idle %v + wait %v = %v, want 100", used, idle, wait, sum)
	}

	pct("memory.percentageUsed", m.Memory.PercentageUsed)
	total := num("memory.total", m.Memory.Total, "MiB")
	if want := value(float64(memTotalKiB(t))/1024, "MiB").Value; m.Memory.Total.Value != want {
		t.Errorf("memory.total = %s MiB, /proc/meminfo says %s", m.Memory.Total.Value, want)
	}
	if u, a := num("memory.used", m.Memory.Used, "MiB"), num("memory.available", m.Memory.Available, "MiB"); u+a > total+0.2 || u < 0 || a <= 0 {
		t.Errorf("memory used %v + available %v against total %v", u, a, total)
	}
	zt, zu := num("memory.zramTotal", m.Memory.ZramTotal, "MiB"), num("memory.zramUsed", m.Memory.ZramUsed, "MiB")
	if za := num("memory.zramAvailable", m.Memory.ZramAvailable, "MiB"); zu > zt || za > zt {
		t.Errorf("zram used %v, available %v, total %v", zu, za, zt)
	}

	pct("disk.percentageUsed", m.Disk.PercentageUsed)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	capacity := num("disk.capacity", m.Disk.Capacity, "GB")
	if want := value(float64(st.Blocks)*float64(st.Bsize)/1e9, "GB").Value; capacity <= 0 || m.Disk.Capacity.Value != want {
		t.Errorf("disk.capacity = %s GB, statfs says %s", m.Disk.Capacity.Value, want)
	}
	if u, a := num("disk.used", m.Disk.Used, "GB"), num("disk.available", m.Disk.Available, "GB"); u+a > capacity+0.2 {
		t.Errorf("disk used %v + available %v > capacity %v", u, a, capacity)
	}

	if tm := m.General.Temperature; tm != nil {
		if c := num("temperature", *tm, "°C"); c <= 0 || c >= 150 {
			t.Errorf("temperature %v °C is implausible", c)
		}
	} else {
		t.Log("this machine reports no CPU temperature")
	}
}

func memTotalKiB(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

func TestFollowDeliversSuccessiveSamples(t *testing.T) {
	const every = 50 * time.Millisecond
	s, err := New(Options{DataDir: t.TempDir(), CPUEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSampler(t, s)

	first, f, err := s.Follow()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !first.SampledAt.IsZero() {
		t.Fatalf("Follow before the first sample returned %v, want the zero sample", first.SampledAt)
	}
	s.Start()
	var got []model.Metrics
	for range 4 {
		got = append(got, recv(t, f))
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].SampledAt.Sub(got[i-1].SampledAt); gap < every {
			t.Errorf("samples %d and %d are %s apart, want at least %s", i-1, i, gap, every)
		}
	}

	// A later follower starts from the newest sample and then gets only
	// newer ones: no gap, no repeat.
	snap, g, err := s.Follow()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if snap.SampledAt.Before(got[len(got)-1].SampledAt) {
		t.Errorf("second follower's snapshot %v is older than a sample already delivered (%v)", snap.SampledAt, got[len(got)-1].SampledAt)
	}
	next := recv(t, g)
	if !next.SampledAt.After(snap.SampledAt) {
		t.Errorf("second follower got %v after snapshot %v", next.SampledAt, snap.SampledAt)
	}
	if latest, ok := s.Latest(); !ok || latest.SampledAt.Before(next.SampledAt) {
		t.Errorf("Latest = %v, older than a delivered sample %v", latest.SampledAt, next.SampledAt)
	}
}

func TestSlowFollowerFallsBehind(t *testing.T) {
	s, err := New(Options{DataDir: t.TempDir(), CPUEvery: 20 * time.Millisecond, FollowQueue: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSampler(t, s)
	_, stuck, err := s.Follow() // never read
	if err != nil {
		t.Fatal(err)
	}
	_, reader, err := s.Follow()
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	s.Start()

	var last model.Metrics
	for !stuck.Ended() {
		last = recv(t, reader) // recv fails the test if the sampler stalls
	}
	if !errors.Is(stuck.Err(), feed.ErrFellBehind) {
		t.Fatalf("stuck follower ended with %v, want ErrFellBehind", stuck.Err())
	}
	// The sampler goes on for the follower that reads.
	for range 3 {
		m := recv(t, reader)
		if !m.SampledAt.After(last.SampledAt) {
			t.Fatalf("sample %v not after %v", m.SampledAt, last.SampledAt)
		}
		last = m
	}
	if n := s.Followers(); n != 1 {
		t.Errorf("Followers = %d after one fell behind, want 1", n)
	}
	// What was queued is still delivered, then the reason.
	ctx := context.Background()
	for i := range 2 {
		if _, err := stuck.Recv(ctx); err != nil {
			t.Fatalf("queued sample %d: %v", i, err)
		}
	}
	if _, err := stuck.Recv(ctx); !errors.Is(err, feed.ErrFellBehind) {
		t.Errorf("after the queue: %v, want ErrFellBehind", err)
	}
}

func TestClosedFollowersArePruned(t *testing.T) {
	s, err := New(Options{DataDir: t.TempDir(), CPUEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSampler(t, s)
	var feeds []*feed.Feed[model.Metrics]
	for range 5 {
		_, f, err := s.Follow()
		if err != nil {
			t.Fatal(err)
		}
		feeds = append(feeds, f)
	}
	if n := s.Followers(); n != 5 {
		t.Fatalf("Followers = %d, want 5", n)
	}
	for _, f := range feeds[:4] {
		f.Close()
	}
	if n := s.Followers(); n != 1 {
		t.Errorf("Followers = %d after closing four, want 1", n)
	}
	s.Start()
	recv(t, feeds[4])
	feeds[4].Close()
	if n := s.Followers(); n != 0 {
		t.Errorf("Followers = %d after closing all, want 0", n)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	s, err := New(Options{DataDir: t.TempDir(), CPUEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, f, err := s.Follow()
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	recv(t, f)
	before, _ := s.Latest()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	closedAt := time.Now()
	goleak.VerifyNone(t) // the collector and the disk reader are gone
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}

	for {
		_, err := f.Recv(context.Background())
		if err == nil {
			continue // queued before Close
		}
		if !errors.Is(err, feed.ErrSourceClosed) {
			t.Errorf("follower ended with %v, want ErrSourceClosed", err)
		}
		break
	}
	if _, _, err := s.Follow(); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Follow after Close: %v, want ErrUnavailable", err)
	}
	after, ok := s.Latest()
	if !ok || after.SampledAt.Before(before.SampledAt) || after.SampledAt.After(closedAt) {
		t.Errorf("Latest after Close = %v (ok %v), want the last sample before %v", after.SampledAt, ok, closedAt)
	}
	s.Start() // after Close: does nothing
	goleak.VerifyNone(t)
}

func TestCloseBeforeStart(t *testing.T) {
	s, err := New(Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Start()
	if _, ok := s.Latest(); ok {
		t.Error("a sample exists though the sampler never ran")
	}
	goleak.VerifyNone(t)
}

// TestStuckDisk: statfs on a dead network mount never returns and ignores
// contexts. CPU and memory go on without it, and Close reports the stuck read
// instead of hanging.
func TestStuckDisk(t *testing.T) {
	log := &logBuffer{}
	s, err := New(Options{DataDir: t.TempDir(), CPUEvery: 20 * time.Millisecond, DiskEvery: 20 * time.Millisecond, Logger: newTestLogger(log)})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var calls atomic.Int32
	s.diskUsage = func(context.Context, string) (*disk.UsageStat, error) {
		calls.Add(1)
		<-release
		return &disk.UsageStat{Total: 1e9}, nil
	}
	s.diskTimeout = 100 * time.Millisecond
	s.closeTimeout = 100 * time.Millisecond
	_, f, err := s.Follow()
	if err != nil {
		t.Fatal(err)
	}
	s.Start()

	var m model.Metrics
	for range 3 {
		m = recv(t, f)
	}
	if m.Disk.Capacity.Value != "0.0" || m.CPU.Idle.Unit != "%" {
		t.Errorf("with the disk stuck: disk %+v cpu %+v", m.Disk, m.CPU)
	}
	if !strings.Contains(log.String(), "disk usage is not answering") {
		t.Errorf("stuck disk not reported:\n%s", log)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d disk reads started while one was stuck, want 1", n)
	}

	err = s.Close()
	if !errors.Is(err, errdefs.ErrTimeout) || !strings.Contains(err.Error(), "disk usage of") {
		t.Errorf("Close with a stuck disk read: %v, want a timeout naming the disk read", err)
	}
	close(release)
	<-s.diskReading // the abandoned read finishes once statfs returns
}

func TestDiskRefreshAndFailure(t *testing.T) {
	log := &logBuffer{}
	s, err := New(Options{DataDir: t.TempDir(), CPUEvery: 20 * time.Millisecond, DiskEvery: 20 * time.Millisecond,
		FollowQueue: 256, Logger: newTestLogger(log)})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSampler(t, s)
	var mu sync.Mutex
	used, fail := uint64(10e9), false
	s.diskUsage = func(context.Context, string) (*disk.UsageStat, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return nil, errors.New("input/output error")
		}
		used += 1e9
		return &disk.UsageStat{Total: 100e9, Used: used, Free: 100e9 - used}, nil
	}
	_, f, err := s.Follow()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s.Start()

	first := recv(t, f).Disk.Used.Value
	if first == "0.0" {
		t.Fatal("the first sample has no disk figure")
	}
	for recv(t, f).Disk.Used.Value == first {
		// until the disk is read again
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	// Failing reads keep the last good figures and are reported once.
	waitFor(t, "the failure to be logged", func() bool { return log.Count("input/output error") > 0 })
	latest, _ := s.Latest()
	good := latest.Disk
	for f.Len() > 0 {
		recv(t, f) // published before the failure
	}
	for range 5 {
		if d := recv(t, f).Disk; d != good {
			t.Fatalf("disk figures changed while every read failed: %+v then %+v", good, d)
		}
	}
	if good.Capacity.Value != "100.0" {
		t.Errorf("kept disk figures %+v, want the last good ones", good)
	}
	if n := log.Count("input/output error"); n != 1 {
		t.Errorf("the disk failure was logged %d times, want once:\n%s", n, log)
	}
}

func TestDiskReadLessOften(t *testing.T) {
	s, err := New(Options{DataDir: t.TempDir(), CPUEvery: 10 * time.Millisecond, DiskEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSampler(t, s)
	var calls atomic.Int32
	s.diskUsage = func(ctx context.Context, dir string) (*disk.UsageStat, error) {
		calls.Add(1)
		return diskUsage(ctx, dir)
	}
	_, f, err := s.Follow()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s.Start()
	for range 10 {
		recv(t, f)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("disk read %d times in 10 samples with DiskEvery 1h, want once", n)
	}
}

// BenchmarkSample is the cost of one CPU/memory/temperature sample on this
// machine: what the collector spends every CPUEvery.
func BenchmarkSample(b *testing.B) {
	s, err := New(Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := &collector{s: s, diskDone: make(chan diskResult, 1), errs: map[string]string{}}
	s.host.discover()
	c.readBaseline()
	b.ReportAllocs()
	for b.Loop() {
		// Advance the baseline's idle time so every iteration is a full sample.
		c.prev.Idle -= 1
		if _, ok := c.sample(time.Now()); !ok {
			b.Fatalf("no sample: %v", c.errs)
		}
	}
}
