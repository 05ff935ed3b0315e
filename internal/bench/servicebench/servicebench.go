// Package servicebench measures services on Docker: how long a package
// takes from package.start to a passing health check, next to `docker start`
// of an equivalent container plus the first passing probe in the same run;
// and package.list latency with 20 packages in the state document.
package servicebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/startos-go/startos/internal/bench/goal"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/rpc/server"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/install"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/service"
)

// config sizes a run: the bench's figures, or a small run in its test.
type config struct {
	rounds    int // start-to-healthy rounds
	listCalls int // package.list calls
}

var full = config{rounds: 9, listCalls: 2000}

const (
	// probeInterval is how soon a failed probe is tried again, by the
	// service manager and by the yardstick alike.
	probeInterval = 20 * time.Millisecond
	listPackages  = 20
)

// Run prints the figures. It leaves nothing behind: the package is
// uninstalled, the yardstick container removed, the temp dir deleted.
func Run(ctx context.Context, w io.Writer) error { return run(ctx, w, full) }

func run(ctx context.Context, w io.Writer, cfg config) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp("", "servicebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	eng, err := container.Connect(ctx, container.Options{})
	if err != nil {
		return err
	}
	defer eng.Close()
	if err := startToHealthy(ctx, w, eng, filepath.Join(tmp, "start"), cfg.rounds); err != nil {
		return err
	}
	return listLatency(ctx, w, filepath.Join(tmp, "list"), cfg.listCalls)
}

// RunList is the package.list figure alone (`go run ./internal/bench list`).
func RunList(ctx context.Context, w io.Writer) error {
	tmp, err := os.MkdirTemp("", "servicebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	return listLatency(ctx, w, filepath.Join(tmp, "list"), full.listCalls)
}

// startToHealthy installs a test package through the library (service
// manager and installer over a real state document) and times package.start
// to health success against docker start plus the first passing exec probe.
func startToHealthy(ctx context.Context, w io.Writer, eng *container.Client, dataDir string, rounds int) (err error) {
	if err := os.MkdirAll(filepath.Join(dataDir, "db"), 0o755); err != nil {
		return err
	}
	store, err := db.Open(ctx, db.Options{Path: filepath.Join(dataDir, "db", "state.db")})
	if err != nil {
		return err
	}
	defer store.Close()
	// The grace before the first check is StartOS's 5 s by default; zero
	// here (1 ns) so the figure is the machinery, not the wait. A failed
	// round is retried after probeInterval, as the yardstick does.
	mgr, err := service.New(service.Options{Store: store, Engine: eng, DataDir: dataDir,
		HealthGrace: time.Nanosecond, HealthInterval: probeInterval})
	if err != nil {
		return err
	}
	defer mgr.Close()
	in, err := install.New(ctx, install.Options{Store: store, Engine: eng, Services: mgr, DataDir: dataDir, Arch: manifest.HostArch()})
	if err != nil {
		return err
	}
	defer in.Close()
	if err := mgr.Start(ctx); err != nil {
		return err
	}

	b, err := testpkg.NewBuilder(eng)
	if err != nil {
		return err
	}
	o := testpkg.Options{ID: "servicebench", Version: "0.1.0"}
	file := filepath.Join(dataDir, "servicebench.s9pk")
	m, err := b.Archive(ctx, file, o, nil, "")
	if err != nil {
		return err
	}
	defer testpkg.Sweep(eng, m.ID)
	if err := sideload(ctx, in, file); err != nil {
		return err
	}
	defer func() {
		if uerr := in.Uninstall(context.WithoutCancel(ctx), m.ID, false, true); uerr != nil && err == nil {
			err = fmt.Errorf("uninstall: %w", uerr)
		}
	}()

	// The yardstick: the same image, entrypoint and command, and the same
	// health command run with exec.
	tag := manifest.DockerTag(m.ID, manifest.MainImage, m.Version)
	hc := m.HealthChecks["web"]
	probe := append([]string{hc.Entrypoint}, hc.Args...)
	name := "servicebench-yardstick"
	eng.RemoveContainer(ctx, name, true)
	if _, err := eng.CreateContainer(ctx, container.Spec{Name: name, Image: tag,
		Entrypoint: []string{m.Main.Entrypoint}, Cmd: m.Main.Args, Labels: map[string]string{testpkg.Label: m.ID},
		StopTimeout: 5 * time.Second}); err != nil {
		return err
	}
	defer eng.RemoveContainer(context.WithoutCancel(ctx), name, true)

	var ours, docker []time.Duration
	for range rounds {
		d, err := ourRound(ctx, mgr, store, m.ID)
		if err != nil {
			return err
		}
		ours = append(ours, d)
		d, err = dockerRound(ctx, eng, name, probe)
		if err != nil {
			return err
		}
		docker = append(docker, d)
	}
	fmt.Fprintf(w, "start to healthy, %d rounds (health grace 0, retry every %s; startd's default grace is StartOS's 5 s):\n", rounds, probeInterval)
	fmt.Fprintf(w, "  package.start (library)        median %8s  p90 %8s\n", ms(median(ours)), ms(p90(ours)))
	fmt.Fprintf(w, "  docker start + exec probe      median %8s  p90 %8s\n", ms(median(docker)), ms(p90(docker)))
	fmt.Fprintf(w, "  difference of medians          %+.1f ms (target under 100 ms)\n", float64(median(ours)-median(docker))/float64(time.Millisecond))
	return nil
}

func sideload(ctx context.Context, in *install.Installer, file string) error {
	up, err := in.Sideload(ctx)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return in.Receive(ctx, up.Upload, f, st.Size())
}

// ourRound stops the package, then times StartPackage until the document
// says its health check passed for this start.
func ourRound(ctx context.Context, mgr *service.Manager, store *db.Store, id string) (time.Duration, error) {
	if err := mgr.StopPackage(ctx, id); err != nil {
		return 0, err
	}
	if err := waitEntry(ctx, store, id, "stopped", func(e model.PackageDataEntry) bool {
		return e.StatusInfo.Started == nil
	}); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := mgr.StartPackage(ctx, id); err != nil {
		return 0, err
	}
	err := waitEntry(ctx, store, id, "healthy", func(e model.PackageDataEntry) bool {
		r, ok := e.StatusInfo.Health["web"]
		return ok && r.Result == model.HealthSuccess && e.StatusInfo.Started != nil
	})
	return time.Since(start), err
}

// waitEntry polls the document (a lock-free read) every 0.5 ms until ok.
func waitEntry(ctx context.Context, store *db.Store, id, what string, ok func(model.PackageDataEntry) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, doc := store.Read()
		if e, found := doc.Public.PackageData[id]; found && ok(e) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never %s: %w", id, what, ctx.Err())
		case <-time.After(500 * time.Microsecond):
		}
	}
}

// dockerRound stops the yardstick container, then times docker start until
// the health command exits 0 in it.
func dockerRound(ctx context.Context, eng *container.Client, name string, probe []string) (time.Duration, error) {
	if err := eng.StopContainer(ctx, name, 5*time.Second); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := eng.StartContainer(ctx, name); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := eng.Exec(ctx, name, container.ExecOptions{Cmd: probe})
		if err == nil && res.ExitCode == 0 {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("yardstick never healthy: %v (exit %d, %s)", err, res.ExitCode, res.Stderr)
		}
		time.Sleep(probeInterval)
	}
}

// listLatency opens the library with 20 installed packages written into
// the state document directly (installing 20 real packages would take
// minutes and measure the installer), serves it on a unix socket, and times
// package.list through the RPC client and through the library.
func listLatency(ctx context.Context, w io.Writer, dataDir string, listCalls int) error {
	if err := seed(ctx, dataDir); err != nil {
		return err
	}
	lib, err := startos.Open(ctx, startos.Config{DataDir: dataDir, Stderr: io.Discard})
	if err != nil {
		return err
	}
	defer lib.Close()
	srv := server.New(lib, server.Options{})
	sock := filepath.Join(dataDir, "bench.sock")
	l, err := server.ListenSocket(sock)
	if err != nil {
		return err
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeSocket(l)
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-served
	}()
	c, err := rpc.Dial(ctx, "unix://"+sock, rpc.ClientOptions{})
	if err != nil {
		return err
	}
	defer c.Close()

	var list []model.PackageSummary
	if err := c.Call(ctx, "package.list", nil, &list); err != nil {
		return err
	}
	if len(list) != listPackages {
		return fmt.Errorf("package.list answered %d packages, want %d", len(list), listPackages)
	}
	// A box polled by a client is mostly a settled one: the timing starts
	// once its state has been still for a second, after the boot's own work
	// (presumably each actor's first look at its container and the first
	// sweep), so it measures the listing, not that.
	revs := settle(ctx, lib)
	overRPC, err := measure(listCalls, func() error { return c.Call(ctx, "package.list", nil, &list) })
	if err != nil {
		return err
	}
	inLib, err := measure(listCalls, func() error { _, err := lib.Packages(ctx); return err })
	if err != nil {
		return err
	}
	var echoed string
	echo, err := measure(listCalls, func() error {
		return c.Call(ctx, "echo", model.EchoParams{Message: "ping"}, &echoed)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "package.list with %d packages (entries written into the document directly), %d calls, once the state was still for 1 s (%d revisions before):\n", listPackages, listCalls, revs)
	fmt.Fprintf(w, "  rpc over the unix socket       p50 %8s  p99 %8s\n", us(pct(overRPC, 50)), us(pct(overRPC, 99)))
	fmt.Fprintf(w, "  library (Server.Packages)      p50 %8s  p99 %8s\n", us(pct(inLib, 50)), us(pct(inLib, 99)))
	fmt.Fprintf(w, "  echo on the same connection    p50 %8s  p99 %8s  (the transport's floor)\n", us(pct(echo, 50)), us(pct(echo, 99)))
	goal.AtMost(w, fmt.Sprintf("package.list, %d packages, RPC over the socket, p50", listPackages),
		float64(pct(overRPC, 50))/1e3, 100, "%.0f µs", "<= 100 µs")
	return nil
}

// settle waits until the library's state has had no new revision for a
// second (at most 15 s), and returns how many revisions it saw meanwhile.
func settle(ctx context.Context, lib *startos.Server) uint64 {
	first := lib.Revision()
	last := first
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return last - first
		case <-time.After(time.Second):
		}
		now := lib.Revision()
		if now == last {
			break
		}
		last = now
	}
	return last - first
}

// seed writes listPackages installed, stopped packages into a new state
// document, as the installer leaves them.
func seed(ctx context.Context, dataDir string) error {
	if err := os.MkdirAll(filepath.Join(dataDir, "db"), 0o755); err != nil {
		return err
	}
	store, err := db.Open(ctx, db.Options{Path: filepath.Join(dataDir, "db", "state.db")})
	if err != nil {
		return err
	}
	_, err = store.Mutate(ctx, func(d *model.Document) error {
		for i := range listPackages {
			m, err := testpkg.NewManifest(testpkg.Options{ID: fmt.Sprintf("listbench-%02d", i), Port: uint16(42000 + i)})
			if err != nil {
				return err
			}
			raw, err := m.MarshalArchived()
			if err != nil {
				return err
			}
			d.Public.PackageData[m.ID] = model.PackageDataEntry{
				StateInfo: model.StateInfo{State: model.PackageInstalled, Manifest: raw},
				StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: model.DesiredStopped},
					Health: map[string]model.HealthCheckResult{}},
			}
		}
		return nil
	})
	return errors.Join(err, store.Close())
}

func measure(n int, call func() error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := call(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func median(ds []time.Duration) time.Duration { return pct(ds, 50) }
func p90(ds []time.Duration) time.Duration    { return pct(ds, 90) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
