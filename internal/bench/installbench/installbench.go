// Package installbench measures a sideload install against the Docker Engine
// doing the core of the same work in the same run: installing a package
// whose image is about 200 MB (receive and verify the upload, archive it,
// load the image, create the volumes, record the package) against `docker
// load` of the same image archive (target: at most 1.15x). The service
// manager is left out on both sides (no container is created), so the ratio
// is the installer's own overhead.
package installbench

import (
	"context"
	"fmt"
	"github.com/startos-go/startos/internal/bench/goal"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/install"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/market"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/registry"
	"github.com/startos-go/startos/startos/s9pk"
)

// Run builds the benchmark package, measures, prints the figures to w and
// removes what it created.
func Run(ctx context.Context, w io.Writer) error {
	return run(ctx, w, config{payload: 200 << 20, rounds: 5})
}

type config struct {
	payload int64
	rounds  int
}

// noServices stands in for the service manager: the benchmark measures the
// install up to the hand-over.
type noServices struct{}

func (noServices) Adopt(context.Context, string) error   { return nil }
func (noServices) Release(context.Context, string) error { return nil }
func (noServices) RunProcedure(context.Context, string, *manifest.Manifest, manifest.Procedure, any) ([]byte, error) {
	return nil, fmt.Errorf("installbench runs no procedures")
}

func run(ctx context.Context, w io.Writer, cfg config) (err error) {
	eng, err := container.Connect(ctx, container.Options{})
	if err != nil {
		return err
	}
	defer eng.Close()
	tmp, err := os.MkdirTemp("", "installbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	m, err := testpkg.NewManifest(testpkg.Options{ID: "installbench", Version: "1.0.0"})
	if err != nil {
		return err
	}
	tag := manifest.DockerTag(m.ID, manifest.MainImage, m.Version)
	fmt.Fprintf(w, "install benchmark: building a FROM scratch image with %s of random data\n", mib(cfg.payload))
	if err := testpkg.BuildPayloadImage(ctx, eng, tmp, tag, cfg.payload); err != nil {
		return err
	}
	defer func() {
		if rerr := eng.Remove(context.WithoutCancel(ctx), tag, true); rerr != nil && err == nil && !strings.Contains(rerr.Error(), "not found") {
			err = rerr
		}
	}()
	imagePath := filepath.Join(tmp, "image.tar")
	f, err := os.Create(imagePath)
	if err != nil {
		return err
	}
	_, err = eng.SaveTo(ctx, tag, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	key, err := s9pk.GenerateKey()
	if err != nil {
		return err
	}
	pkgPath := filepath.Join(tmp, "installbench.s9pk")
	pf, err := os.Create(pkgPath)
	if err != nil {
		return err
	}
	_, err = s9pk.WritePackage(pf, key, &s9pk.Package{
		Manifest: m, Icon: s9pk.BytesSource([]byte("icon")), License: s9pk.BytesSource([]byte("MIT")),
		Instructions: s9pk.BytesSource([]byte("bench")),
		Images:       []s9pk.PackageImage{{ID: manifest.MainImage, Arch: manifest.HostArch(), Source: s9pk.FileSource(imagePath)}},
	})
	if cerr := pf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	st, _ := os.Stat(pkgPath)

	// The same archive published in a registry on loopback.
	regKey, err := s9pk.GenerateKey()
	if err != nil {
		return err
	}
	www := filepath.Join(tmp, "www")
	folder := &registry.Folder{Dir: www, Key: regKey}
	if err := folder.Init("bench"); err != nil {
		return err
	}
	if _, err := folder.Publish(pkgPath, registry.PublishOptions{}); err != nil {
		return err
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(www)))
	defer srv.Close()

	ver, err := folder.Load()
	if err != nil {
		return err
	}
	archiveURL, err := registry.Resolve(srv.URL+"/"+registry.IndexFile, ver.Packages[m.ID].Versions[m.Version.String()].URL)
	if err != nil {
		return err
	}

	// Each round measures all four on the same archive; the sideload and
	// registry installs swap order every round so neither always runs on a
	// warmer page cache, and the registry figure is compared round by round.
	var loads, installs, fromRegistry, transfers []time.Duration
	var regRatios, netRatios []float64
	for i := range cfg.rounds {
		if err := eng.Remove(ctx, tag, true); err != nil {
			return err
		}
		d, err := timeLoad(ctx, eng, imagePath)
		if err != nil {
			return err
		}
		loads = append(loads, d)
		sideload := func() error {
			if err := eng.Remove(ctx, tag, true); err != nil {
				return err
			}
			d, err := timeInstall(ctx, eng, filepath.Join(tmp, fmt.Sprintf("data%d", i)), pkgPath)
			installs = append(installs, d)
			return err
		}
		fromReg := func() error {
			if err := eng.Remove(ctx, tag, true); err != nil {
				return err
			}
			d, err := timeRegistryInstall(ctx, eng, filepath.Join(tmp, fmt.Sprintf("reg%d", i)), srv.URL, m.ID)
			fromRegistry = append(fromRegistry, d)
			return err
		}
		first, second := sideload, fromReg
		if i%2 == 1 {
			first, second = fromReg, sideload
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		t, err := timeTransfer(ctx, archiveURL, st.Size())
		if err != nil {
			return err
		}
		transfers = append(transfers, t)
		regRatios = append(regRatios, fromRegistry[i].Seconds()/installs[i].Seconds())
		netRatios = append(netRatios, (fromRegistry[i]-t).Seconds()/installs[i].Seconds())
	}
	load, inst := median(loads), median(installs)
	fmt.Fprintf(w, "\nsideload install (package %s; median of %d alternating runs):\n", mib(st.Size()), cfg.rounds)
	fmt.Fprintf(w, "  docker load              %8.3f s  %s\n", load.Seconds(), runs(loads))
	fmt.Fprintf(w, "  sideload install         %8.3f s  %s\n", inst.Seconds(), runs(installs))
	fmt.Fprintf(w, "  install / load           %8.3fx median, %.3fx best of each (target <= 1.15x)\n",
		inst.Seconds()/load.Seconds(), slices.Min(installs).Seconds()/slices.Min(loads).Seconds())
	goal.AtMost(w, "sideload install vs docker load, median", inst.Seconds()/load.Seconds(), 1.10, "%.2fx", "<= 1.10x")
	reg, transfer := median(fromRegistry), median(transfers)
	fmt.Fprintf(w, "\nregistry install vs sideload of the same archive (median of %d rounds, order alternating):\n", cfg.rounds)
	fmt.Fprintf(w, "  registry install         %8.3f s  %s\n", reg.Seconds(), runs(fromRegistry))
	fmt.Fprintf(w, "  transfer alone (GET)     %8.3f s  %s (loopback)\n", transfer.Seconds(), runs(transfers))
	fmt.Fprintf(w, "  registry / sideload      %8.3fx median of per-round ratios (%s)\n", medianF(regRatios), ratios(regRatios))
	fmt.Fprintf(w, "  (registry - transfer) / sideload %.3fx median (%s)\n", medianF(netRatios), ratios(netRatios))
	goal.AtMost(w, "registry: install from registry minus the transfer vs sideload of the same archive, median of rounds",
		medianF(netRatios), 1.05, "%.2fx", "<= 1.05x plus the transfer")
	return nil
}

// timeRegistryInstall installs id on a fresh box at dataDir from the
// registry at regURL: registry.add, then package.install by id (resolve,
// download verified while streaming, commitment and developer checks).
func timeRegistryInstall(ctx context.Context, eng *container.Client, dataDir, regURL, id string) (time.Duration, error) {
	if err := os.MkdirAll(filepath.Join(dataDir, "db"), 0o755); err != nil {
		return 0, err
	}
	store, err := db.Open(ctx, db.Options{Path: filepath.Join(dataDir, "db", "state.db")})
	if err != nil {
		return 0, err
	}
	defer store.Close()
	in, err := install.New(ctx, install.Options{Store: store, Engine: eng, Services: noServices{}, DataDir: dataDir, Arch: manifest.HostArch(), AllowLocalDownloads: true})
	if err != nil {
		return 0, err
	}
	defer in.Close()
	mk, err := market.New(ctx, market.Options{Store: store, DataDir: dataDir, Installer: in, AllowLocal: true, RefreshEvery: -1,
		Platform: registry.Platform{Arch: manifest.HostArch()}})
	if err != nil {
		return 0, err
	}
	defer mk.Close()
	if _, err := mk.Add(ctx, model.RegistryAddParams{URL: regURL}); err != nil {
		return 0, err
	}
	start := time.Now()
	err = mk.Install(ctx, model.InstallParams{ID: id})
	d := time.Since(start)
	os.RemoveAll(dataDir)
	return d, err
}

func timeLoad(ctx context.Context, eng *container.Client, path string) (time.Duration, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	_, err = eng.Load(ctx, f)
	return time.Since(start), err
}

// timeInstall installs the package on a fresh box at dataDir, from
// Sideload to the install's end.
func timeInstall(ctx context.Context, eng *container.Client, dataDir, pkgPath string) (time.Duration, error) {
	if err := os.MkdirAll(filepath.Join(dataDir, "db"), 0o755); err != nil {
		return 0, err
	}
	store, err := db.Open(ctx, db.Options{Path: filepath.Join(dataDir, "db", "state.db")})
	if err != nil {
		return 0, err
	}
	defer store.Close()
	in, err := install.New(ctx, install.Options{Store: store, Engine: eng, Services: noServices{}, DataDir: dataDir, Arch: manifest.HostArch()})
	if err != nil {
		return 0, err
	}
	defer in.Close()
	f, err := os.Open(pkgPath)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	up, err := in.Sideload(ctx)
	if err != nil {
		return 0, err
	}
	err = in.Receive(ctx, up.Upload, f, st.Size())
	d := time.Since(start)
	os.RemoveAll(dataDir)
	return d, err
}

// timeTransfer is the download alone: GET the archive to nowhere.
func timeTransfer(ctx context.Context, u string, size int64) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && n != size {
		err = fmt.Errorf("transfer: got %d of %d bytes", n, size)
	}
	return time.Since(start), err
}

func medianF(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func ratios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.3f", x)
	}
	return "rounds: " + strings.Join(parts, " ")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func runs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.3f", d.Seconds())
	}
	return "runs: " + strings.Join(parts, " ")
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
