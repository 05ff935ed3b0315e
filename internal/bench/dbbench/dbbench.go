// Package dbbench measures startos/db: durable mutations per second with one
// and with sixteen writers against raw bbolt single-key durable updates in
// the same run, the delay from a mutation to its delivery with 100 and 1,000
// subscribers, and the time to dump a 5 MB document. `just bench` calls Run.
package dbbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/startos-go/startos/internal/bench/goal"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/model"
)

// config sizes one run; tests use a smaller one.
type config struct {
	mutations   int   // per throughput scenario (and raw bbolt updates)
	deliveries  int   // mutations timed per subscriber scenario
	subscribers []int // subscriber counts
	dumpBytes   int   // size of the dumped document
	dumps       int   // dumps timed
}

var defaultConfig = config{mutations: 5000, deliveries: 500, subscribers: []int{100, 1000}, dumpBytes: 5 << 20, dumps: 20}

// Run prints one line per figure to w.
func Run(ctx context.Context, w io.Writer) error {
	return run(ctx, w, defaultConfig)
}

func run(ctx context.Context, w io.Writer, cfg config) error {
	dir, err := os.MkdirTemp("", "dbbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	tp, err := throughput(ctx, dir, cfg.mutations)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "db       raw bbolt updates    n=%d  %.0f/s  (one key, one fsync each: the yardstick)\n", cfg.mutations, tp.raw)
	for _, r := range []struct {
		name  string
		rate  float64
		stats db.Stats
		goal  float64
	}{{" 1 writer ", tp.one, tp.oneStats, 0.9}, {"16 writers", tp.sixteen, tp.sixteenStats, 5}} {
		fmt.Fprintf(w, "db       mutations %s n=%d  %.0f/s  ratio=%.2f  commits=%d (%.1f revisions per fsync)\n",
			r.name, cfg.mutations, r.rate, r.rate/tp.raw, r.stats.Commits, float64(r.stats.Mutations)/float64(r.stats.Commits))
		goal.AtLeast(w, "durable mutations, "+strings.TrimSpace(r.name)+", vs raw bbolt", r.rate/tp.raw, r.goal, "%.2fx", fmt.Sprintf(">= %gx", r.goal))
	}
	for _, n := range cfg.subscribers {
		d, err := delivery(ctx, filepath.Join(dir, fmt.Sprintf("s%d.db", n)), n, cfg.deliveries)
		if err != nil {
			return fmt.Errorf("%d subscribers: %w", n, err)
		}
		fmt.Fprintf(w, "db       delivery %4d subs  p50=%s p99=%s  fan-out p99=%s  mutate p50=%s  n=%d\n",
			n, ms(d.p50), ms(d.p99), ms(d.spreadP99), ms(d.mutateP50), cfg.deliveries)
	}
	dd, err := dump(ctx, filepath.Join(dir, "dump.db"), cfg.dumpBytes, cfg.dumps)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	fmt.Fprintf(w, "db       dump %.1f MB         mean=%s min=%s  (%.0f MB/s)  durable mutation on it=%s\n",
		float64(dd.size)/1e6, ms(dd.mean), ms(dd.min), float64(dd.size)/1e6/dd.mean.Seconds(), ms(dd.mutate))
	fmt.Fprintf(w, "db       mutation cost on it  package=%s  whole document=%s  (copy, mutator and patch, disk excluded; mean of %d)\n",
		ms(dd.applyPackage), ms(dd.applyDocument), dd.applied)
	goal.AtMost(w, "mutation cost on a 5 MB document (one package's status)", float64(dd.applyPackage)/1e6, 1, "%.3f ms", "<= 1 ms")
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

// rounds interleaves the throughput scenarios so that the disk's drift
// during the run (it varies a lot on shared machines) hits all of them alike.
const rounds = 5

type throughputResult struct {
	raw, one, sixteen      float64 // per second
	oneStats, sixteenStats db.Stats
}

// throughput runs n raw bbolt updates, n mutations from one writer and n
// from sixteen, in alternating rounds.
func throughput(ctx context.Context, dir string, n int) (throughputResult, error) {
	var res throughputResult
	b, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return res, err
	}
	defer b.Close()
	one, err := open(ctx, filepath.Join(dir, "one.db"), 0)
	if err != nil {
		return res, err
	}
	defer one.Close()
	sixteen, err := open(ctx, filepath.Join(dir, "sixteen.db"), 0)
	if err != nil {
		return res, err
	}
	defer sixteen.Close()
	oneBefore, sixteenBefore := one.Stats(), sixteen.Stats()

	var rawTime, oneTime, sixteenTime time.Duration
	per := max(1, n/rounds)
	for round := range rounds {
		d, err := rawUpdates(ctx, b, round*per, per)
		if err != nil {
			return res, fmt.Errorf("raw bbolt: %w", err)
		}
		rawTime += d
		if d, err = mutations(ctx, one, round*per, per, 1); err != nil {
			return res, fmt.Errorf("1 writer: %w", err)
		}
		oneTime += d
		if d, err = mutations(ctx, sixteen, round*per, per, 16); err != nil {
			return res, fmt.Errorf("16 writers: %w", err)
		}
		sixteenTime += d
	}
	done := float64(per * rounds)
	res.raw, res.one, res.sixteen = done/rawTime.Seconds(), done/oneTime.Seconds(), done/sixteenTime.Seconds()
	res.oneStats, res.sixteenStats = delta(one.Stats(), oneBefore), delta(sixteen.Stats(), sixteenBefore)
	return res, nil
}

func delta(after, before db.Stats) db.Stats {
	after.Commits -= before.Commits
	after.Mutations -= before.Mutations
	return after
}

// rawUpdates does n single-key bbolt updates, each its own fsynced
// transaction.
func rawUpdates(ctx context.Context, b *bolt.DB, from, n int) (time.Duration, error) {
	bucket, key := []byte("b"), []byte("counter")
	start := time.Now()
	for i := from; i < from+n; i++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		val := fmt.Appendf(nil, `{"n":%d}`, i)
		if err := b.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(bucket)
			if err != nil {
				return err
			}
			return bk.Put(key, val)
		}); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// seed gives the store a small realistic document: a few packages.
func seed(d *model.Document) {
	d.Public.ServerInfo.Name, d.Public.ServerInfo.Version, d.Public.ServerInfo.Arch = "Bench Box", "0.1.0", "x86_64"
	for _, id := range []string{"bitcoind", "lnd", "nextcloud", "vaultwarden", "jellyfin"} {
		d.Public.PackageData[id] = model.PackageDataEntry{
			StateInfo:  model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(`{"id":"` + id + `","version":"1.0.0"}`)},
			StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: model.DesiredRunning}},
		}
	}
}

func open(ctx context.Context, path string, queue int) (*db.Store, error) {
	return db.Open(ctx, db.Options{Path: path, QueueSize: queue, Init: seed})
}

// bump is the benchmark mutation, a health result: one small change to one
// package, written as the service manager writes it.
func bump(ctx context.Context, s *db.Store, id string, i int) (model.Revision, error) {
	return s.MutatePackage(ctx, id, func(e *model.PackageDataEntry) error {
		e.StatusInfo.Health = map[string]model.HealthCheckResult{"main": {Name: "main", Result: model.HealthSuccess, Message: fmt.Sprint(i)}}
		return nil
	})
}

// bumpDocument is bump through Mutate, the whole-document API.
func bumpDocument(id string, i int) func(*model.Document) error {
	return func(d *model.Document) error {
		e := d.Public.PackageData[id]
		e.StatusInfo.Health = map[string]model.HealthCheckResult{"main": {Name: "main", Result: model.HealthSuccess, Message: fmt.Sprint(i)}}
		d.Public.PackageData[id] = e
		return nil
	}
}

// mutations commits n mutations from writers goroutines.
func mutations(ctx context.Context, s *db.Store, from, n, writers int) (time.Duration, error) {
	ids := []string{"bitcoind", "lnd", "nextcloud", "vaultwarden", "jellyfin"}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			for i := from + w; i < from+n; i += writers {
				if _, err := bump(ctx, s, ids[w%len(ids)], i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return elapsed, nil
}

type deliveryResult struct {
	p50, p99, spreadP99, mutateP50 time.Duration
}

// delivery subscribes n subscribers to /public and times m sequential
// mutations from the Mutate call to each subscriber's receipt. The mutation
// includes its fsync, so mutate p50 is printed beside it; fan-out is the
// receipt time less the first receipt of the same revision.
func delivery(ctx context.Context, path string, n, m int) (deliveryResult, error) {
	s, err := open(ctx, path, m+16)
	if err != nil {
		return deliveryResult{}, err
	}
	defer s.Close()

	first := s.Revision() + 1
	received := make([][]time.Time, n) // per subscriber, per revision
	var wg sync.WaitGroup
	for i := range n {
		_, f, err := s.Subscribe("/public", 0)
		if err != nil {
			return deliveryResult{}, err
		}
		defer f.Close()
		received[i] = make([]time.Time, m)
		wg.Go(func() {
			for range m {
				r, err := f.Recv(ctx)
				if err != nil {
					return
				}
				if k := int(r.ID - first); k >= 0 && k < m {
					received[i][k] = time.Now()
				}
			}
		})
	}
	called := make([]time.Time, m)
	var mutate []time.Duration
	for k := range m {
		called[k] = time.Now()
		r, err := bump(ctx, s, "bitcoind", k)
		if err != nil {
			return deliveryResult{}, err
		}
		mutate = append(mutate, time.Since(called[k]))
		if r.ID != first+uint64(k) {
			return deliveryResult{}, fmt.Errorf("revision %d, want %d", r.ID, first+uint64(k))
		}
	}
	wg.Wait()
	var delays, spread []time.Duration
	for k := range m {
		earliest := time.Time{}
		for i := range n {
			t := received[i][k]
			if t.IsZero() {
				return deliveryResult{}, fmt.Errorf("subscriber %d missed revision %d", i, first+uint64(k))
			}
			if earliest.IsZero() || t.Before(earliest) {
				earliest = t
			}
		}
		for i := range n {
			delays = append(delays, received[i][k].Sub(called[k]))
			spread = append(spread, received[i][k].Sub(earliest))
		}
	}
	return deliveryResult{
		p50: pct(delays, 50), p99: pct(delays, 99), spreadP99: pct(spread, 99), mutateP50: pct(mutate, 50),
	}, nil
}

func pct(d []time.Duration, p int) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)]
}

type dumpResult struct {
	size                        int
	mean, min                   time.Duration
	mutate                      time.Duration
	applyPackage, applyDocument time.Duration // per mutation
	applied                     int
}

// dump grows the document to about size bytes (package manifests) and times
// Dump("/public").
func dump(ctx context.Context, path string, size, runs int) (dumpResult, error) {
	s, err := open(ctx, path, 0)
	if err != nil {
		return dumpResult{}, err
	}
	defer s.Close()
	const perPackage = 50_000
	filler := strings.Repeat("x", perPackage-100)
	if _, err := s.Mutate(ctx, func(d *model.Document) error {
		for i := range max(1, size/perPackage) {
			id := fmt.Sprintf("pkg%04d", i)
			d.Public.PackageData[id] = model.PackageDataEntry{
				StateInfo: model.StateInfo{State: model.PackageInstalled,
					Manifest: json.RawMessage(`{"id":"` + id + `","description":"` + filler + `"}`)},
			}
		}
		return nil
	}); err != nil {
		return dumpResult{}, err
	}
	start := time.Now()
	if _, err := bump(ctx, s, "pkg0000", 1); err != nil {
		return dumpResult{}, err
	}
	res := dumpResult{mutate: time.Since(start), applied: 50}
	for _, whole := range []bool{false, true} {
		before := s.Stats().Applying
		for i := range res.applied {
			var err error
			if whole {
				_, err = s.Mutate(ctx, bumpDocument("pkg0001", i))
			} else {
				_, err = bump(ctx, s, "pkg0001", i)
			}
			if err != nil {
				return dumpResult{}, err
			}
		}
		per := (s.Stats().Applying - before) / time.Duration(res.applied)
		if whole {
			res.applyDocument = per
		} else {
			res.applyPackage = per
		}
	}
	var total time.Duration
	for range runs {
		if err := ctx.Err(); err != nil {
			return dumpResult{}, err
		}
		start := time.Now()
		d, err := s.Dump("/public")
		if err != nil {
			return dumpResult{}, err
		}
		took := time.Since(start)
		total += took
		if res.min == 0 || took < res.min {
			res.min = took
		}
		res.size = len(d.Value)
	}
	res.mean = total / time.Duration(runs)
	return res, nil
}
