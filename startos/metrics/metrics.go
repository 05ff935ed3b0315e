// Package metrics samples the server's load in the background (CPU split by
// kind of time, memory and zram, the data folder's filesystem, the hottest CPU
// sensor) so that server.metrics answers from a cache at once and
// server.metrics.follow streams each new sample.
//
// One goroutine reads CPU, memory and temperature every CPUEvery; the disk is
// read every DiskEvery on a goroutine of its own, because statfs on a dead
// network mount never returns and must not stop the other figures. Neither
// holds a lock while it reads. The first sample waits up to 10 s for the
// first disk figure; past that it goes out with a zero disk.
package metrics

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

// Defaults, from StartOS (reference/startos-backend.md §7.4).
const (
	DefaultCPUEvery    = 4 * time.Second
	DefaultDiskEvery   = 60 * time.Second
	DefaultFollowQueue = 16 // a minute of samples at the default rate
)

// MinCPUEvery is the shortest CPU interval: the kernel counts CPU time in
// ticks of 10 ms, so shorter intervals measure nothing.
const MinCPUEvery = 10 * time.Millisecond

const (
	// readTimeout is the deadline of one sample's reads.
	readTimeout = 2 * time.Second
	// firstSampleDelay caps the interval of the first CPU figure, so that
	// server.metrics has an answer a second after start rather than CPUEvery.
	firstSampleDelay = time.Second
	// defaultDiskTimeout: a disk read slower than this is reported, and the
	// first sample stops waiting for it.
	defaultDiskTimeout = 10 * time.Second
	// defaultCloseTimeout bounds how long Close waits for a disk read stuck
	// in the kernel.
	defaultCloseTimeout = 5 * time.Second
)

// Options configures a Sampler. Zero fields take the defaults.
type Options struct {
	// DataDir is the data folder; the disk figures are for the filesystem
	// holding it. Required.
	DataDir string
	// CPUEvery is how often CPU, memory and temperature are sampled, and so
	// the interval the CPU split covers. Default 4 s.
	CPUEvery time.Duration
	// DiskEvery is how often the disk is read. Default 60 s.
	DiskEvery time.Duration
	// FollowQueue is how many samples a follower may leave unread before its
	// feed ends with feed.ErrFellBehind. Default 16.
	FollowQueue int
	// Logger receives a warning when a figure cannot be read (once, not at
	// every sample) and a note when it can again.
	Logger hclog.Logger
	// HostProc and HostSys point at another /proc and /sys, for a daemon in
	// a container with the host's mounted elsewhere. Default: $HOST_PROC and
	// $HOST_SYS, else /proc and /sys.
	HostProc, HostSys string
}

func (o *Options) setDefaults() {
	if o.CPUEvery == 0 {
		o.CPUEvery = DefaultCPUEvery
	}
	if o.DiskEvery == 0 {
		o.DiskEvery = DefaultDiskEvery
	}
	if o.FollowQueue == 0 {
		o.FollowQueue = DefaultFollowQueue
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
}

func (o *Options) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("metrics options: "+format+": %w", append(args, errdefs.ErrInvalidRequest)...)
	}
	switch {
	case o.DataDir == "":
		return bad("DataDir is empty: the disk figures are for the filesystem holding it")
	case o.CPUEvery < MinCPUEvery:
		return bad("CPUEvery %s is shorter than %s, the kernel's CPU tick", o.CPUEvery, MinCPUEvery)
	case o.DiskEvery < 0:
		return bad("DiskEvery %s is negative", o.DiskEvery)
	case o.FollowQueue < 0:
		return bad("FollowQueue %d is negative", o.FollowQueue)
	}
	for _, d := range []struct{ field, path string }{{"DataDir", o.DataDir}, {"HostProc", o.HostProc}, {"HostSys", o.HostSys}} {
		if d.path == "" {
			continue
		}
		fi, err := os.Stat(d.path)
		if err != nil {
			return bad("%s: %v", d.field, err)
		}
		if !fi.IsDir() {
			return bad("%s %s is not a directory", d.field, d.path)
		}
	}
	return nil
}

// Sampler keeps the latest sample of the server's load. Create it with New,
// Start it, and Close it to stop its goroutines.
type Sampler struct {
	opts Options
	log  hclog.Logger
	host *host

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the collector

	// Tests replace these before Start.
	diskUsage    func(ctx context.Context, dir string) (*disk.UsageStat, error)
	diskTimeout  time.Duration
	closeTimeout time.Duration

	mu          sync.Mutex // guards the fields below; never held across a read
	started     bool
	closed      bool
	latest      model.Metrics
	have        bool
	subs        []*feed.Feed[model.Metrics]
	diskReading chan struct{} // closed when the newest disk read returns; nil before the first

	closeOnce sync.Once
	closeErr  error
}

// New checks opts. Nothing is read until Start.
func New(opts Options) (*Sampler, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Sampler{
		opts:         opts,
		log:          opts.Logger.Named("metrics"),
		host:         newHost(opts.HostProc, opts.HostSys),
		ctx:          ctx,
		cancel:       cancel,
		diskUsage:    diskUsage,
		diskTimeout:  defaultDiskTimeout,
		closeTimeout: defaultCloseTimeout,
	}, nil
}

// Start starts sampling. The first sample is ready about a second later
// (sooner with a shorter CPUEvery). Start after Start or Close does nothing.
func (s *Sampler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	s.wg.Add(1)
	go s.run()
}

// Close stops sampling, ends every follower's feed with feed.ErrSourceClosed
// and waits for the goroutines. It returns an error wrapping
// errdefs.ErrTimeout only when a disk read is stuck in the kernel (a dead
// network mount); that goroutine is then abandoned.
func (s *Sampler) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		subs := s.subs
		s.subs = nil
		s.mu.Unlock()

		s.cancel()
		s.wg.Wait()
		for _, f := range subs {
			f.End(feed.ErrSourceClosed)
		}

		s.mu.Lock()
		reading := s.diskReading
		s.mu.Unlock()
		if reading == nil {
			return
		}
		t := time.NewTimer(s.closeTimeout)
		defer t.Stop()
		select {
		case <-reading:
		case <-t.C:
			s.closeErr = fmt.Errorf("metrics: disk usage of %s still blocked after %s, abandoned: %w",
				s.opts.DataDir, s.closeTimeout, errdefs.ErrTimeout)
		}
	})
	return s.closeErr
}

// Latest returns the newest sample without waiting. ok is false until the
// first sample has been taken.
func (s *Sampler) Latest() (m model.Metrics, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest, s.have
}

// Follow returns the newest sample and a feed of every later one, with no gap
// and no repeat between the two. Before the first sample the returned one is
// zero (SampledAt.IsZero()) and the first arrives on the feed. A follower that
// leaves FollowQueue samples unread is ended with feed.ErrFellBehind; it never
// delays the sampler. The caller closes the feed when done.
func (s *Sampler) Follow() (model.Metrics, *feed.Feed[model.Metrics], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return model.Metrics{}, nil, fmt.Errorf("metrics: follow: sampler is closed: %w", errdefs.ErrUnavailable)
	}
	s.prune()
	f := feed.New[model.Metrics](s.opts.FollowQueue)
	s.subs = append(s.subs, f)
	return s.latest, f, nil
}

// Followers is how many feeds are live; ended ones are pruned at each sample.
func (s *Sampler) Followers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune()
	return len(s.subs)
}

// prune drops ended feeds. s.mu is held.
func (s *Sampler) prune() {
	live := s.subs[:0]
	for _, f := range s.subs {
		if !f.Ended() {
			live = append(live, f)
		}
	}
	clear(s.subs[len(live):])
	s.subs = live
}

// publish stores m and offers it to every follower. Offer never blocks, so
// holding s.mu here keeps Follow's snapshot and its feed free of gaps.
func (s *Sampler) publish(m model.Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest, s.have = m, true
	live := s.subs[:0]
	for _, f := range s.subs {
		if f.Offer(m) {
			live = append(live, f)
		}
	}
	clear(s.subs[len(live):])
	s.subs = live
}

type diskResult struct {
	usage *disk.UsageStat
	err   error
}

// collector is the state of the sampling goroutine; only it touches it.
type collector struct {
	s        *Sampler
	prev     cpu.TimesStat
	havePrev bool
	disk     model.MetricsDisk
	diskDone chan diskResult // capacity 1; at most one read in flight

	diskStarted  time.Time
	diskInFlight bool
	diskSlow     bool // the in-flight read has been reported slow
	rediscover   bool
	errs         map[string]string // source -> last error reported
}

func (s *Sampler) run() {
	defer s.wg.Done()
	c := &collector{
		s:        s,
		disk:     diskFigures(&disk.UsageStat{}),
		diskDone: make(chan diskResult, 1),
		errs:     map[string]string{},
	}
	s.host.discover()

	// Wait for the first disk figure, so no sample shows an empty disk,
	// but not for a read that hangs.
	c.startDisk(time.Now())
	wait := time.NewTimer(s.diskTimeout)
	select {
	case r := <-c.diskDone:
		c.takeDisk(r)
	case <-wait.C:
		c.diskSlow = true
		s.log.Warn("disk usage is not answering; sampling without it", "dir", s.opts.DataDir, "waited", s.diskTimeout)
	case <-s.ctx.Done():
		wait.Stop()
		return
	}
	wait.Stop()

	c.readBaseline()
	next := time.NewTimer(min(firstSampleDelay, s.opts.CPUEvery))
	defer next.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case r := <-c.diskDone:
			c.takeDisk(r)
		case <-next.C:
			c.tick(time.Now())
			// From the end of the sample: a slow sample stretches the
			// interval instead of queueing ticks.
			next.Reset(s.opts.CPUEvery)
		}
	}
}

func (c *collector) readBaseline() {
	ctx, cancel := context.WithTimeout(c.s.ctx, readTimeout)
	defer cancel()
	t, err := c.s.host.cpuTimes(ctx)
	if c.report("cpu", err) {
		return
	}
	c.prev, c.havePrev = t, true
}

func (c *collector) startDisk(now time.Time) {
	s := c.s
	done := make(chan struct{})
	s.mu.Lock()
	s.diskReading = done
	s.mu.Unlock()
	c.diskStarted, c.diskInFlight, c.diskSlow = now, true, false
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(s.ctx, s.diskTimeout)
		defer cancel()
		u, err := s.diskUsage(ctx, s.opts.DataDir)
		c.diskDone <- diskResult{u, err} // never blocks: one read at a time
	}()
}

func (c *collector) takeDisk(r diskResult) {
	c.diskInFlight = false
	if c.report("disk", r.err) {
		return // keep the last good figures
	}
	c.disk = diskFigures(r.usage)
}

func (c *collector) tick(now time.Time) {
	s := c.s
	if c.diskInFlight && !c.diskSlow && now.Sub(c.diskStarted) >= s.diskTimeout {
		c.diskSlow = true
		s.log.Warn("disk usage is not answering; keeping the last figures", "dir", s.opts.DataDir,
			"waited", now.Sub(c.diskStarted).Round(time.Millisecond))
	}
	if !c.diskInFlight && now.Sub(c.diskStarted) >= s.opts.DiskEvery {
		c.startDisk(now)
		c.rediscover = true // sensors and zram devices come and go with modules
	}
	if c.rediscover {
		s.host.discover()
		c.rediscover = false
	}
	if m, ok := c.sample(now); ok {
		s.publish(m)
	}
}

func (c *collector) sample(now time.Time) (model.Metrics, bool) {
	h := c.s.host
	ctx, cancel := context.WithTimeout(c.s.ctx, readTimeout)
	defer cancel()

	t, err := h.cpuTimes(ctx)
	if c.report("cpu", err) {
		return model.Metrics{}, false
	}
	if !c.havePrev {
		c.prev, c.havePrev = t, true
		return model.Metrics{}, false
	}
	cpuFig, ok := cpuSplit(c.prev, t)
	if !ok {
		return model.Metrics{}, false // no tick passed; keep the baseline
	}
	c.prev = t

	vm, err := h.memory(ctx)
	if c.report("memory", err) {
		return model.Metrics{}, false
	}
	z := h.zramUsage(ctx)
	celsius, hot, err := h.temperature(ctx)
	if c.report("temperature", err) {
		c.rediscover = true
	}
	if ctx.Err() != nil && c.s.ctx.Err() == nil {
		c.report("deadline", fmt.Errorf("one sample took longer than %s", readTimeout))
	} else {
		c.report("deadline", nil)
	}
	return model.Metrics{
		General:   model.MetricsGeneral{Temperature: temperatureFigure(celsius, hot)},
		Memory:    memoryFigures(vm, z),
		CPU:       cpuFig,
		Disk:      c.disk,
		SampledAt: now.UTC(),
	}, true
}

// report logs a source's error when it first appears or changes, and its
// recovery; a broken sensor says so once, not every four seconds. It
// reports whether err is set.
func (c *collector) report(source string, err error) bool {
	prev, failing := c.errs[source]
	switch {
	case err != nil && err.Error() != prev:
		c.errs[source] = err.Error()
		c.s.log.Warn("cannot read a figure", "source", source, "error", err)
	case err == nil && failing:
		delete(c.errs, source)
		c.s.log.Info("figure readable again", "source", source)
	}
	return err != nil
}
