package startos

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/startos-go/startos/internal/bytesize"
	"github.com/startos-go/startos/startos/model"
)

// Alerts sets when trouble becomes a notification (document, email,
// webhooks). Each kind is raised once per episode; a new episode starts
// only after recovery. Zero values take the defaults.
type Alerts struct {
	// CrashLoopRestarts crashes of a service within CrashLoopWindow make it
	// crash-looping; default 5 in 10m. The episode ends after a whole
	// window without a crash, or when the owner stops the service.
	CrashLoopRestarts int
	CrashLoopWindow   time.Duration
	// HealthFailingFor is how long a health check fails before the owner
	// hears of it; default 5m. A success ends the episode.
	HealthFailingFor time.Duration
	// DiskFullPercent is the use of the data directory's filesystem (as df
	// counts it) that raises the disk-full notification; default 90. The
	// episode ends when the use falls 5 points below it.
	DiskFullPercent float64
	// DiskCheckEvery is how often the disk is checked; default 1m.
	DiskCheckEvery time.Duration
	// DiskStat measures the filesystem holding path; nil means statfs.
	DiskStat func(ctx context.Context, path string) (DiskUsage, error)
}

// DiskUsage is a filesystem's use in bytes, as df counts it: Used and
// Available need not add up to the size (blocks reserved for root).
type DiskUsage struct{ Used, Available uint64 }

// Percent is the use as df prints it: used of used plus available.
func (u DiskUsage) Percent() float64 {
	if u.Used+u.Available == 0 {
		return 0
	}
	return 100 * float64(u.Used) / float64(u.Used+u.Available)
}

const (
	defaultDiskFullPercent = 90
	diskRearmPoints        = 5 // below the threshold by this much ends an episode
	defaultDiskCheckEvery  = time.Minute
	diskStatTimeout        = 10 * time.Second
)

func (a *Alerts) setDefaults() {
	if a.DiskFullPercent <= 0 || a.DiskFullPercent > 100 {
		a.DiskFullPercent = defaultDiskFullPercent
	}
	if a.DiskCheckEvery <= 0 {
		a.DiskCheckEvery = defaultDiskCheckEvery
	}
	if a.DiskStat == nil {
		a.DiskStat = StatDisk
	}
}

// StatDisk measures the filesystem holding path with statfs. statfs on a
// dead network mount can hang for good, so it runs on a goroutine of its
// own and the caller waits only until ctx ends.
func StatDisk(ctx context.Context, path string) (DiskUsage, error) {
	type answer struct {
		u   DiskUsage
		err error
	}
	ch := make(chan answer, 1) // the goroutine never blocks on sending
	go func() {
		var st unix.Statfs_t
		if err := unix.Statfs(path, &st); err != nil {
			ch <- answer{err: fmt.Errorf("statfs %s: %w", path, err)}
			return
		}
		bs := uint64(st.Bsize)
		ch <- answer{u: DiskUsage{Used: (st.Blocks - st.Bfree) * bs, Available: st.Bavail * bs}}
	}()
	select {
	case a := <-ch:
		return a.u, a.err
	case <-ctx.Done():
		return DiskUsage{}, fmt.Errorf("statfs %s: no answer: %w", path, ctx.Err())
	}
}

// diskAlarm watches the data directory's filesystem on a timer and raises
// one notification per episode of it being fuller than the threshold.
type diskAlarm struct {
	path   string
	cfg    Alerts
	notify func(ctx context.Context, in model.NotificationInput)
	warn   func(msg string, args ...any)

	full bool // in an episode; owned by the goroutine that calls check

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// check measures once and raises the notification when an episode starts.
func (d *diskAlarm) check(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, diskStatTimeout)
	u, err := d.cfg.DiskStat(sctx, d.path)
	cancel()
	if err != nil {
		d.warn("disk check failed", "path", d.path, "error", err)
		return
	}
	pct := u.Percent()
	switch {
	case !d.full && pct > d.cfg.DiskFullPercent:
		d.full = true
		d.notify(ctx, model.NotificationInput{Level: model.NotificationWarning, Title: "Disk almost full",
			Message: fmt.Sprintf("The disk holding %s is %.0f%% full (%s free). Services may fail to write; remove data or packages, or add space.",
				d.path, pct, bytesize.Format(float64(u.Available)))})
	case d.full && pct < d.cfg.DiskFullPercent-diskRearmPoints:
		d.full = false
	}
}

// start checks now and then every DiskCheckEvery until stop.
func (d *diskAlarm) start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTicker(d.cfg.DiskCheckEvery)
		defer t.Stop()
		for {
			d.check(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (d *diskAlarm) stop() {
	if d == nil || d.cancel == nil {
		return
	}
	d.cancel()
	d.wg.Wait()
}

// openDiskAlarm starts the disk-full check on the data directory.
func (s *Server) openDiskAlarm() {
	cfg := s.cfg.Alerts
	cfg.setDefaults()
	s.disk = &diskAlarm{path: s.cfg.DataDir, cfg: cfg,
		notify: func(ctx context.Context, in model.NotificationInput) { _, _ = s.Notify(ctx, in) },
		warn:   s.log.Named("alerts").Warn}
	s.disk.start()
}
