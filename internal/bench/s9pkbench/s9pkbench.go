// Package s9pkbench measures packing and verifying package archives against
// the Docker Engine and the disk doing the same work in the same run:
//
//   - packing a package whose image is about 200 MB, against `docker save` of
//     the same image to a file (target: at most 1.15x);
//   - verifying the archive (every hash), against reading the same file.
//
// Numbers are ratios measured side by side, never absolute thresholds.
package s9pkbench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"github.com/startos-go/startos/internal/bench/goal"
	"github.com/startos-go/startos/internal/testpkg"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/s9pk"
)

// Run builds the benchmark image, measures, prints the figures to w and
// removes what it created.
func Run(ctx context.Context, w io.Writer) error {
	return run(ctx, w, config{payload: 200 << 20, rounds: 5})
}

type config struct {
	payload int64 // bytes of random data in the image
	rounds  int
}

const benchManifest = `
id: s9pkbench
title: s9pk benchmark
version: 1.0.0
release-notes: benchmark
license: mit
wrapper-repo: https://example.com/bench
upstream-repo: https://example.com/bench
description: {short: benchmark, long: a package with a large image}
main: {type: docker, image: main, entrypoint: /app}
health-checks: {}
volumes: {}
interfaces: {}
backup:
  create: {type: docker, image: main, entrypoint: /app, args: [backup]}
  restore: {type: docker, image: main, entrypoint: /app, args: [restore]}
`

func run(ctx context.Context, w io.Writer, cfg config) (err error) {
	eng, err := container.Connect(ctx, container.Options{})
	if err != nil {
		return err
	}
	defer eng.Close()
	info, err := eng.Ping(ctx)
	if err != nil {
		return err
	}
	m, _, err := manifest.Parse([]byte(benchManifest))
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "s9pkbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	tag := manifest.DockerTag(m.ID, "main", m.Version)
	fmt.Fprintf(w, "s9pk benchmark: building a FROM scratch image with %s of random data and a static binary (engine API %s)\n", mib(cfg.payload), info.APIVersion)
	if err := testpkg.BuildPayloadImage(ctx, eng, tmp, tag, cfg.payload); err != nil {
		return err
	}
	defer func() {
		if rerr := eng.Remove(context.WithoutCancel(ctx), tag, true); rerr != nil && err == nil {
			err = rerr
		}
	}()
	img, err := eng.Inspect(ctx, tag)
	if err != nil {
		return err
	}

	key, err := s9pk.GenerateKey()
	if err != nil {
		return err
	}
	savePath := filepath.Join(tmp, "image.tar")
	packPath := filepath.Join(tmp, "bench.s9pk")
	var saves, packs []time.Duration
	var saveSize, packSize int64
	for range cfg.rounds {
		// Alternate the two so drift in the machine's load hits both.
		d, n, err := timeSave(ctx, eng, tag, savePath)
		if err != nil {
			return err
		}
		saves, saveSize = append(saves, d), n
		d, n, err = timePack(ctx, eng, tag, m, key, packPath)
		if err != nil {
			return err
		}
		packs, packSize = append(packs, d), n
	}
	save, pack := median(saves), median(packs)
	fmt.Fprintf(w, "\npacking (image %s; median of %d alternating runs, files left in the page cache, no fsync):\n", mib(img.Size), cfg.rounds)
	fmt.Fprintf(w, "  docker save to a file   %8.3f s  %8.1f MiB/s  %s  %s\n", save.Seconds(), rate(saveSize, save), mib(saveSize), runs(saves))
	fmt.Fprintf(w, "  s9pk pack to a file     %8.3f s  %8.1f MiB/s  %s  %s\n", pack.Seconds(), rate(packSize, pack), mib(packSize), runs(packs))
	fmt.Fprintf(w, "  pack / save             %8.3fx median, %.3fx best of each (target <= 1.15x)\n",
		pack.Seconds()/save.Seconds(), slices.Min(packs).Seconds()/slices.Min(saves).Seconds())
	goal.AtMost(w, "pack vs docker save, median", pack.Seconds()/save.Seconds(), 1.10, "%.2fx", "<= 1.10x")

	// Verification reads the archive just written, from the page cache, as
	// does the plain read it is compared with.
	var reads, verifies, streams []time.Duration
	for range cfg.rounds {
		d, err := timeRead(packPath)
		if err != nil {
			return err
		}
		reads = append(reads, d)
		d, err = timeVerify(packPath)
		if err != nil {
			return err
		}
		verifies = append(verifies, d)
		d, err = timeStream(packPath)
		if err != nil {
			return err
		}
		streams = append(streams, d)
	}
	read, verify, stream := median(reads), median(verifies), median(streams)
	fmt.Fprintf(w, "\nverifying %s (median of %d runs):\n", mib(packSize), cfg.rounds)
	fmt.Fprintf(w, "  read (cat > /dev/null)  %8.3f s  %8.1f MiB/s  %s\n", read.Seconds(), rate(packSize, read), runs(reads))
	fmt.Fprintf(w, "  Open + VerifyAll        %8.3f s  %8.1f MiB/s  %s\n", verify.Seconds(), rate(packSize, verify), runs(verifies))
	fmt.Fprintf(w, "  VerifyStream            %8.3f s  %8.1f MiB/s  %s\n", stream.Seconds(), rate(packSize, stream), runs(streams))
	fmt.Fprintf(w, "  verify / read           %8.3fx median, %.3fx best of each\n", verify.Seconds()/read.Seconds(), slices.Min(verifies).Seconds()/slices.Min(reads).Seconds())
	return nil
}

func timeSave(ctx context.Context, eng *container.Client, tag, path string) (time.Duration, int64, error) {
	os.Remove(path)
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	n, err := eng.SaveTo(ctx, tag, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return time.Since(start), n, err
}

// timePack writes a package whose image streams from the engine, as
// `start-sdk pack` does.
func timePack(ctx context.Context, eng *container.Client, tag string, m *manifest.Manifest, key ed25519.PrivateKey, path string) (time.Duration, int64, error) {
	os.Remove(path)
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	res, err := s9pk.WritePackage(f, key, &s9pk.Package{
		Manifest:     m,
		Icon:         s9pk.BytesSource([]byte("icon")),
		License:      s9pk.BytesSource([]byte("MIT")),
		Instructions: s9pk.BytesSource([]byte("# bench")),
		Images: []s9pk.PackageImage{{ID: "main", Arch: "x86_64", Source: s9pk.SourceFunc(func() (io.ReadCloser, error) {
			return eng.Save(ctx, tag)
		})}},
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, err
	}
	return time.Since(start), res.Size, nil
}

func timeRead(path string) (time.Duration, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		_, err := f.Read(buf)
		if err == io.EOF {
			return time.Since(start), nil
		}
		if err != nil {
			return 0, err
		}
	}
}

func timeVerify(path string) (time.Duration, error) {
	start := time.Now()
	a, err := s9pk.OpenFile(path, nil)
	if err != nil {
		return 0, err
	}
	defer a.Close()
	if err := a.VerifyAll(nil); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func timeStream(path string) (time.Duration, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := s9pk.VerifyStream(f, io.Discard, nil); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func runs(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.3f", d.Seconds())
	}
	return "(runs: " + strings.Join(parts, ", ") + ")"
}

func rate(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
