// Package scalebench is issue 17's scale case: a real startd with N (100)
// small FROM scratch packages installed. It times startd's boot reconcile
// (from exec to all N containers running, after `docker stop` of all N)
// against the engine starting the same N stopped containers in the same run,
// and measures startd's idle CPU and RSS with the N packages running.
//
// The engine is never restarted (other work shares it): the containers are
// stopped instead, which is what a boot after an engine restart finds.
// Everything the run creates is removed at the end, on failure too: the
// containers, networks and images of packages named scalebench-*, and the
// data folder.
package scalebench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/startos-go/startos/internal/bench/benchd"
	"github.com/startos-go/startos/internal/bench/goal"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/service"
)

// Prefix names every package of a `just bench` run; leftovers of a killed
// run are recognised by it.
const Prefix = "scalebench-"

// Config sizes a run.
type Config struct {
	Packages int           // default 100
	Idle     time.Duration // the CPU sample; default 30 s
	// Parallel bounds concurrent installs and the yardstick's concurrent
	// starts; default 4.
	Parallel int
	Timeout  time.Duration // the whole run; default 20 min (most of it installing, on a busy machine)
	// Prefix of the package ids, and of what Cleanup removes; default
	// Prefix.
	Prefix string
}

func (c Config) withDefaults() Config {
	if c.Packages <= 0 {
		c.Packages = 100
	}
	if c.Idle <= 0 {
		c.Idle = 30 * time.Second
	}
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	if c.Timeout <= 0 {
		c.Timeout = 20 * time.Minute
	}
	if c.Prefix == "" {
		c.Prefix = Prefix
	}
	return c
}

// Run is `just bench scale` with the defaults; SCALEBENCH_PACKAGES sets a
// smaller N for iterations, SCALEBENCH_IDLE the idle sample (a duration).
func Run(ctx context.Context, w io.Writer) error {
	cfg := Config{}
	if n, err := strconv.Atoi(os.Getenv("SCALEBENCH_PACKAGES")); err == nil {
		cfg.Packages = n
	}
	if d, err := time.ParseDuration(os.Getenv("SCALEBENCH_IDLE")); err == nil {
		cfg.Idle = d
	}
	return RunConfig(ctx, w, cfg)
}

// RunConfig runs the scale case with cfg.
func RunConfig(ctx context.Context, w io.Writer, cfg Config) (err error) {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	eng, err := container.Connect(ctx, container.Options{})
	if err != nil {
		return err
	}
	defer eng.Close()
	dir, err := os.MkdirTemp("", "scalebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ids := make([]string, cfg.Packages)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%03d", cfg.Prefix, i)
	}
	// A killed earlier run may have left some behind; and whatever this run
	// makes goes, however it ends.
	Cleanup(eng, cfg.Prefix, ids)
	defer Cleanup(eng, cfg.Prefix, ids)

	began := time.Now()
	bin := filepath.Join(dir, "startd")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/startos-go/startos/frontends/daemon").CombinedOutput(); err != nil {
		return fmt.Errorf("building startd: %v\n%s", err, out)
	}
	archives, err := writeArchives(ctx, eng, filepath.Join(dir, "archives"), ids)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "scale    %d archives written in %s\n", len(ids), time.Since(began).Round(time.Millisecond))

	data := filepath.Join(dir, "data")
	d, err := startDaemon(ctx, bin, data)
	if err != nil {
		return err
	}
	defer d.Kill()
	installBegan := time.Now()
	if err := installAll(ctx, d, archives, cfg.Parallel); err != nil {
		return err
	}
	if err := waitAllRunning(ctx, eng, ids, 3*time.Minute); err != nil {
		return fmt.Errorf("after install: %w", err)
	}
	fmt.Fprintf(w, "scale    %d packages installed and running in %s\n", len(ids), time.Since(installBegan).Round(time.Millisecond))
	if _, err := d.Stop(); err != nil {
		return err
	}

	// The yardstick: the engine starts the same stopped containers, as
	// many at once as the installs ran.
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = service.ContainerName(id)
	}
	if err := stopAll(ctx, eng, names, cfg.Parallel); err != nil {
		return err
	}
	t0 := time.Now()
	if err := forEach(ctx, names, cfg.Parallel, func(ctx context.Context, name string) error {
		return eng.StartContainer(ctx, name)
	}); err != nil {
		return fmt.Errorf("docker start: %w", err)
	}
	if err := waitAllRunning(ctx, eng, ids, 3*time.Minute); err != nil {
		return fmt.Errorf("docker start: %w", err)
	}
	dockerStart := time.Since(t0)
	if err := stopAll(ctx, eng, names, cfg.Parallel); err != nil {
		return err
	}

	// Ours: startd from exec to every container running.
	t0 = time.Now()
	d, err = startDaemon(ctx, bin, data)
	if err != nil {
		return err
	}
	defer d.Kill()
	if err := waitAllRunning(ctx, eng, ids, 3*time.Minute); err != nil {
		return fmt.Errorf("boot reconcile: %w", err)
	}
	boot := time.Since(t0)
	bootCPU, err := benchd.CPUTicks(d.PID())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "scale    boot reconcile of %d stopped packages (exec to all running) %s, startd's CPU %.2f s; docker start of the %d (%d at a time) %s\n",
		len(ids), boot.Round(time.Millisecond), float64(bootCPU)/benchd.ClockTicks, len(ids), cfg.Parallel, dockerStart.Round(time.Millisecond))
	goal.AtMost(w, fmt.Sprintf("%d packages: boot reconcile to all running vs docker start of the %d", len(ids), len(ids)),
		float64(boot)/float64(dockerStart), 1.2, "%.2fx", "<= 1.2x")

	// Idle: the document says every package started; then the health
	// checks have had their grace, and startd is left alone.
	if err := waitAllStarted(ctx, d, ids, 2*time.Minute); err != nil {
		return err
	}
	select {
	case <-time.After(6 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	// Idle is not quiet: every package's health check is an exec every
	// 15 s (StartOS's interval), counted here to read the figure by. The
	// engine runs them (each package's probe); startd hears of each end.
	execCtx, stopExecs := context.WithCancel(ctx)
	evs, _ := eng.Events(execCtx, service.LabelPackage, time.Time{}, "exec_start")
	execs := make(chan int, 1)
	go func() {
		n := 0
		for range evs {
			n++
		}
		execs <- n
	}()
	cpu0, err := benchd.CPUTicks(d.PID())
	if err != nil {
		stopExecs()
		return err
	}
	w0 := time.Now()
	select {
	case <-time.After(cfg.Idle):
	case <-ctx.Done():
		stopExecs()
		return ctx.Err()
	}
	stopExecs()
	checks := <-execs
	cpu1, err := benchd.CPUTicks(d.PID())
	if err != nil {
		return err
	}
	wall := time.Since(w0)
	rss, err := benchd.RSS(d.PID())
	if err != nil {
		return err
	}
	pct := 100 * float64(cpu1-cpu0) / benchd.ClockTicks / wall.Seconds()
	fmt.Fprintf(w, "scale    startd idle with %d packages running: CPU %.2f%% of a core over %s, RSS %.1f MiB; health checks ran %d execs (%.1f/s)\n",
		len(ids), pct, wall.Round(time.Second), benchd.MiB(rss), checks, float64(checks)/wall.Seconds())
	goal.Report(w, goal.Figure{Measure: fmt.Sprintf("%d packages: idle CPU of startd, RSS", len(ids)),
		Value: fmt.Sprintf("%.2f%%, %.1f MiB", pct, benchd.MiB(rss)), Goal: "<= 0.5%, <= 60 MiB", OK: pct <= 0.5 && benchd.MiB(rss) <= 60})
	if _, err := d.Stop(); err != nil {
		return err
	}
	return nil
}

// writeArchives builds the test image once and writes one archive per id
// with it (the installer names the image after the package).
func writeArchives(ctx context.Context, eng *container.Client, dir string, ids []string) ([]string, error) {
	b, err := testpkg.NewBuilder(eng)
	if err != nil {
		return nil, err
	}
	img, err := b.Image(ctx, testpkg.Options{ID: ids[0]})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = filepath.Join(dir, id+".s9pk")
		if _, err := b.Archive(ctx, out[i], testpkg.Options{ID: id}, img, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func installAll(ctx context.Context, d *benchd.Process, archives []string, parallel int) error {
	c, err := rpc.Dial(ctx, d.Sock, rpc.ClientOptions{})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := forEach(ctx, archives, parallel, func(ctx context.Context, path string) error {
		if err := c.SideloadFile(ctx, model.SideloadParams{}, path); err != nil {
			return fmt.Errorf("sideload %s: %w", filepath.Base(path), err)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, path := range archives {
		id := strings.TrimSuffix(filepath.Base(path), ".s9pk")
		if err := c.Call(ctx, "package.start", model.PackageIDParams{ID: id}, nil); err != nil {
			return fmt.Errorf("package.start %s: %w", id, err)
		}
	}
	return nil
}

// forEach runs fn on every item, at most parallel at once, and returns the
// first error.
func forEach[T any](ctx context.Context, items []T, parallel int, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, it); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func stopAll(ctx context.Context, eng *container.Client, names []string, parallel int) error {
	if err := forEach(ctx, names, 2*parallel, func(ctx context.Context, name string) error {
		return eng.StopContainer(ctx, name, 10*time.Second)
	}); err != nil {
		return fmt.Errorf("docker stop: %w", err)
	}
	return nil
}

// waitAllRunning polls the engine's container list (one call, every 50 ms)
// until every package's main container runs.
func waitAllRunning(ctx context.Context, eng *container.Client, ids []string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	want := map[string]bool{}
	for _, id := range ids {
		want[service.ContainerName(id)] = true
	}
	for {
		list, err := eng.ListContainers(ctx, service.LabelPackage)
		running := 0
		if err == nil {
			for _, c := range list {
				if c.Running && want[c.Name] {
					running++
				}
			}
			if running == len(want) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d containers running when the wait ended (%v): %w", running, len(want), err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitAllStarted polls package.list (every 500 ms) until the document
// says every package runs and is healthy.
func waitAllStarted(ctx context.Context, d *benchd.Process, ids []string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c, err := rpc.Dial(ctx, d.Sock, rpc.ClientOptions{})
	if err != nil {
		return err
	}
	defer c.Close()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for {
		var list []model.PackageSummary
		started := 0
		if err := c.Call(ctx, "package.list", nil, &list); err == nil {
			for _, p := range list {
				if want[p.ID] && p.Primary == model.DesiredRunning && p.Health == "success" {
					started++
				}
			}
			if started == len(want) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d packages running in the document when the wait ended: %w", started, len(want), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Cleanup removes every container, network and image of packages whose id
// starts with prefix: this run's and a killed earlier run's. Errors are
// ignored: it is a cleanup. Images are removed by tag, for the packages
// found and the ids in also.
func Cleanup(eng *container.Client, prefix string, also []string) {
	// A busy engine takes seconds per network removal: 100 of them need
	// minutes (3 were not enough once).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	list, _ := eng.ListContainers(ctx, service.LabelPackage)
	var ids []string
	seen := map[string]bool{}
	for _, c := range list {
		id := c.Labels[service.LabelPackage]
		if !strings.HasPrefix(id, prefix) {
			continue
		}
		_ = eng.RemoveContainer(ctx, c.ID, true)
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	nets, _ := eng.ListNetworks(ctx, service.LabelPackage)
	for _, n := range nets {
		if id := n.Labels[service.LabelPackage]; strings.HasPrefix(id, prefix) {
			_ = eng.RemoveNetwork(ctx, n.ID)
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	for _, id := range also {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		_ = eng.Remove(ctx, "start9/"+id+"/main:"+testpkgVersion, true)
	}
}

const testpkgVersion = "0.1.0"

// startDaemon runs startd for the scale case: LAN access on loopback, no
// plain-HTTP redirect, authorized_keys under the data dir;
// SCALEBENCH_LOG=1 copies its log to stderr.
func startDaemon(ctx context.Context, bin, dataDir string) (*benchd.Process, error) {
	o := benchd.Options{ReadyTimeout: 60 * time.Second, StopTimeout: 30 * time.Second,
		Args: []string{"--lan-listen", "127.0.0.1:0", "--lan-http-listen", "", "--authorized-keys", filepath.Join(dataDir, "ssh", "authorized_keys")}}
	if os.Getenv("SCALEBENCH_LOG") != "" {
		o.Log = os.Stderr
	}
	return benchd.Start(ctx, bin, dataDir, o)
}
