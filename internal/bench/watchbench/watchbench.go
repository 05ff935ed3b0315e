// Package watchbench measures the runtime watchdog: how long a stall takes
// to become a goroutine dump on disk with the default thresholds, and what
// the watchdog costs an otherwise idle process.
package watchbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/startos-go/startos/startos/watchdog"
)

// params shape one run; Run uses the defaults, tests shrink them.
type params struct {
	tick, miss, megamiss, kill time.Duration // zero: the watchdog's defaults
	injections                 int
	spacing                    time.Duration // between injections, which overlap
	idle                       time.Duration // each of the two CPU windows
	touch                      time.Duration // heartbeat period of the loops
}

func defaultParams() params {
	return params{injections: 20, spacing: 1300 * time.Millisecond, idle: 10 * time.Second, touch: 100 * time.Millisecond}
}

// Run measures and prints, in about a minute: the watchdog's CPU share of
// one core at idle (getrusage of this process over 10 s without and 10 s
// with a watchdog; the process must be otherwise idle), then the detection
// latency from an injected stall to its megamiss dump on disk over 20
// overlapping injections with the default thresholds.
func Run(ctx context.Context, w io.Writer) error {
	return run(ctx, w, defaultParams())
}

func run(ctx context.Context, w io.Writer, p params) error {
	fmt.Fprintf(w, "watchdog benchmark (%s, %s/%s, %d CPUs)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if err := idleCPU(ctx, w, p); err != nil {
		return err
	}
	return detection(ctx, w, p)
}

type usage struct {
	cpu    time.Duration
	nvcsw  int64
	wall   time.Time
	failed error
}

func rusage() usage {
	var ru syscall.Rusage
	err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return usage{
		cpu:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		nvcsw:  ru.Nvcsw,
		wall:   time.Now(),
		failed: err,
	}
}

// window measures the process over d: CPU as a share of one core, and
// voluntary context switches (wake-ups) per second.
func window(ctx context.Context, d time.Duration) (share, wakeups float64, err error) {
	runtime.GC()
	a := rusage()
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(d):
	}
	b := rusage()
	if err := errors.Join(a.failed, b.failed); err != nil {
		return 0, 0, fmt.Errorf("getrusage: %w", err)
	}
	wall := b.wall.Sub(a.wall).Seconds()
	return float64(b.cpu-a.cpu) / float64(b.wall.Sub(a.wall)), float64(b.nvcsw-a.nvcsw) / wall, nil
}

func idleCPU(ctx context.Context, w io.Writer, p params) error {
	base, baseWake, err := window(ctx, p.idle)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "watchbench-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wd, err := watchdog.New(watchdog.Config{Tick: p.tick, Miss: p.miss, Megamiss: p.megamiss, Kill: p.kill, Dir: dir,
		Exit: func(code int) {}})
	if err != nil {
		return err
	}
	wd.Start()
	with, withWake, err := window(ctx, p.idle)
	if cerr := wd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "idle CPU, getrusage of this process over %s each, built-in scheduler probe only:\n", p.idle)
	fmt.Fprintf(w, "  without watchdog %.4f%% of a core, %.1f wakeups/s\n", base*100, baseWake)
	fmt.Fprintf(w, "  with watchdog    %.4f%% of a core, %.1f wakeups/s\n", with*100, withWake)
	fmt.Fprintf(w, "  watchdog share   %.4f%% of a core, %.1f wakeups/s (target <= 0.1%%)\n", (with-base)*100, withWake-baseWake)
	return nil
}

// fault is one injected stall of one kind, on a probe of its own.
type fault struct {
	name     string
	class    string
	inject   func()
	release  func()
	injected time.Time
	detected time.Time
	path     string
}

// blockPool is a two-worker pool, as the library runs them.
type blockPool struct {
	jobs   chan func()
	busy   atomic.Int64
	queued atomic.Int64
	done   atomic.Uint64
	wg     sync.WaitGroup
}

func newBlockPool() *blockPool {
	p := &blockPool{jobs: make(chan func(), 16)}
	for range 2 {
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

func (p *blockPool) Stats() watchdog.PoolStats {
	return watchdog.PoolStats{Size: 2, Busy: int(p.busy.Load()), Queued: int(p.queued.Load()), Completed: p.done.Load()}
}

func (p *blockPool) submit(job func()) { p.queued.Add(1); p.jobs <- job }

func detection(ctx context.Context, w io.Writer, p params) error {
	dir, err := os.MkdirTemp("", "watchbench-detect-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var mu sync.Mutex
	byName := map[string]*fault{}
	detected := make(chan *fault, p.injections)
	var hookErr error
	var exits atomic.Int64
	wd, err := watchdog.New(watchdog.Config{
		Tick: p.tick, Miss: p.miss, Megamiss: p.megamiss, Kill: p.kill, Dir: dir,
		DumpsPerHour: -1, // 20 stalls in half a minute; the hourly limit would skip most dumps
		Exit:         func(int) { exits.Add(1) },
		OnMegamiss: func(probe, path string) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			f := byName[probe]
			if f == nil || f.injected.IsZero() || !f.detected.IsZero() {
				if f == nil {
					hookErr = errors.Join(hookErr, fmt.Errorf("megamiss of %q, which had no fault injected", probe))
				}
				return
			}
			if fi, err := os.Stat(path); path == "" || err != nil || fi.Size() == 0 {
				hookErr = errors.Join(hookErr, fmt.Errorf("megamiss of %q without a dump on disk (%q, %v)", probe, path, err))
				return
			}
			f.detected, f.path = now, path
			detected <- f
		},
	})
	if err != nil {
		return err
	}
	defer wd.Close()

	// The stalled loops' heartbeats are touched by one goroutine until their
	// fault stops them.
	stopTouch := make(chan struct{})
	var touching sync.WaitGroup
	var heartbeats []*watchdog.Heartbeat
	var stalled []*atomic.Bool
	var pools []*blockPool
	var holders sync.WaitGroup // goroutines holding a lock forever, until released
	defer func() {
		close(stopTouch)
		touching.Wait()
		holders.Wait()
		for _, pl := range pools {
			close(pl.jobs)
			pl.wg.Wait()
		}
	}()

	faults := make([]*fault, p.injections)
	classes := []string{"probe", "mutex", "pool", "heartbeat"}
	for i := range faults {
		f := &fault{class: classes[i%len(classes)]}
		f.name = fmt.Sprintf("%s-%02d", f.class, i)
		release := make(chan struct{})
		var once sync.Once
		f.release = func() { once.Do(func() { close(release) }) }
		switch f.class {
		case "probe":
			var hung atomic.Bool
			err = wd.AddProbe(f.name, watchdog.Fatal, func(ctx context.Context) error {
				if hung.Load() {
					<-release // a call that hangs and ignores its deadline
				}
				return nil
			})
			f.inject = func() { hung.Store(true) }
			rel := f.release
			f.release = func() { hung.Store(false); rel() }
		case "mutex":
			var m *watchdog.Mutex
			m, err = wd.NewMutex(f.name)
			f.inject = func() {
				locked := make(chan struct{})
				holders.Go(func() { m.Lock(); close(locked); <-release; m.Unlock() })
				<-locked
			}
		case "pool":
			pl := newBlockPool()
			pools = append(pools, pl)
			err = wd.WatchPool(f.name, watchdog.Fatal, pl)
			f.inject = func() {
				pl.submit(func() { <-release })
				pl.submit(func() { <-release })
			}
		case "heartbeat":
			var hb *watchdog.Heartbeat
			hb, err = wd.Heartbeat(f.name, watchdog.Fatal)
			s := new(atomic.Bool)
			heartbeats, stalled = append(heartbeats, hb), append(stalled, s)
			f.inject = func() { s.Store(true) }
			rel := f.release
			f.release = func() { s.Store(false); rel() }
		}
		if err != nil {
			return err
		}
		faults[i] = f
		byName[f.name] = f
	}
	touching.Go(func() {
		t := time.NewTicker(p.touch)
		defer t.Stop()
		for {
			for i, hb := range heartbeats {
				if !stalled[i].Load() {
					hb.Touch()
				}
			}
			select {
			case <-stopTouch:
				return
			case <-t.C:
			}
		}
	})
	wd.Start()
	defer func() {
		for _, f := range faults {
			f.release()
		}
	}()

	start := time.Now()
	next := 0
	timer := time.NewTimer(p.spacing)
	defer timer.Stop()
	deadline := time.After(time.Duration(p.injections)*p.spacing + 4*max(p.megamiss, watchdog.DefaultMegamiss))
	for done := 0; done < p.injections; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%d of %d stalls detected before the deadline", done, p.injections)
		case <-timer.C:
			if next < len(faults) {
				f := faults[next]
				mu.Lock()
				f.injected = time.Now()
				mu.Unlock()
				f.inject()
				next++
				timer.Reset(p.spacing)
			}
		case f := <-detected:
			f.release()
			done++
		}
	}
	elapsed := time.Since(start)
	mu.Lock()
	err = hookErr
	mu.Unlock()
	if err != nil {
		return err
	}
	if n := exits.Load(); n != 0 {
		return fmt.Errorf("the watchdog killed %d times during the run", n)
	}

	miss, megamiss, kill, tick := orDefault(p.miss, watchdog.DefaultMiss), orDefault(p.megamiss, watchdog.DefaultMegamiss),
		orDefault(p.kill, watchdog.DefaultKill), orDefault(p.tick, watchdog.DefaultTick)
	fmt.Fprintf(w, "detection latency, stall injected -> megamiss dump on disk (tick %s, miss %s, megamiss %s, kill %s; dump limit lifted):\n",
		tick, miss, megamiss, kill)
	fmt.Fprintf(w, "  %d injections, %s apart, overlapping, over %s: %s\n", p.injections, p.spacing, elapsed.Round(time.Millisecond),
		quantiles(latencies(faults, "")))
	for _, c := range classes {
		fmt.Fprintf(w, "  %-9s %s\n", c, quantiles(latencies(faults, c)))
	}
	fmt.Fprintf(w, "  target: p99 <= megamiss + tick = %s\n", megamiss+tick)
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func latencies(faults []*fault, class string) []time.Duration {
	var out []time.Duration
	for _, f := range faults {
		if class == "" || f.class == class {
			out = append(out, f.detected.Sub(f.injected))
		}
	}
	slices.Sort(out)
	return out
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func quantiles(sorted []time.Duration) string {
	if len(sorted) == 0 {
		return "no samples"
	}
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("n=%d min %s p50 %s p99 %s max %s", len(sorted), r(sorted[0]), r(quantile(sorted, 0.5)),
		r(quantile(sorted, 0.99)), r(sorted[len(sorted)-1]))
}
