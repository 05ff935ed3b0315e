package startos

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/logging"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/watchdog"
)

// startWatchdog starts the library's watchdog with the probes every Server
// has: the scheduler (built in), the state store's committer, each log sink.
// Frontends add probes that need their parts, such as the loopback call
// through the daemon's listener (AddProbe).
func (s *Server) startWatchdog() error {
	cfg := s.cfg.Watchdog
	cfg.Dir = s.path("watchdog")
	cfg.Logger = s.log.Named("watchdog")
	cfg.OnMegamiss = func(probe, dump string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = s.Notify(ctx, model.NotificationInput{Level: model.NotificationLevel("warning"),
			Title:   "The daemon stalled",
			Message: fmt.Sprintf("Probe %q has not succeeded for a while; a goroutine dump was written to %s.", probe, dump)})
	}
	cfg.Evidence = s.writeLogEvidence
	w, err := watchdog.New(cfg)
	if err != nil {
		return fmt.Errorf("startos: watchdog: %w", err)
	}
	s.wd = w
	if err := w.AddProbe("db.committer", watchdog.Fatal, func(ctx context.Context) error {
		// Through the committer, in turn with the mutations, but without
		// copying the document or writing: no fsync, no cost per package.
		return s.db.Ping(ctx)
	}); err != nil {
		return err
	}
	for _, sink := range s.logs.Stats() {
		name := sink.Name
		if err := w.AddProbe("log."+name, watchdog.Degraded, func(context.Context) error {
			for _, st := range s.logs.Stats() {
				if st.Name == name && st.Degraded {
					return fmt.Errorf("log sink %s degraded: %d dropped, write in progress for %d ms", name, st.Dropped, st.StuckForMs)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if s.cfg.HandleSignals {
		w.HandleSignals()
	}
	w.Start()
	return nil
}

// writeLogEvidence appends the newest log entries to a dump.
func (s *Server) writeLogEvidence(w io.Writer) {
	page, err := s.logs.Entries(model.LogsParams{Limit: logging.MaxLimit})
	if err != nil {
		return
	}
	fmt.Fprintf(w, "\n== last %d log entries ==\n", len(page.Entries))
	for _, e := range page.Entries {
		fmt.Fprintf(w, "%s %-5s %s\n", e.Timestamp.Format(time.RFC3339Nano), strings.ToUpper(e.Level), e.Message)
	}
}

// AddProbe registers a liveness probe with the library's watchdog; see
// watchdog.(*Watchdog).AddProbe.
func (s *Server) AddProbe(name string, sev watchdog.Severity, check func(context.Context) error, opts ...watchdog.ProbeOption) error {
	return s.wd.AddProbe(name, sev, check, opts...)
}

// Ready tells the watchdog (and systemd) that the daemon is serving.
func (s *Server) Ready() { s.wd.Ready() }

// Watchdog reports each probe, the log sinks and the dumps on disk.
func (s *Server) Watchdog(context.Context) (model.WatchdogReport, error) {
	return model.WatchdogReport{Watchdog: s.wd.Status(), Sinks: s.logs.Stats()}, nil
}

// DumpGoroutines writes a goroutine dump to the watchdog folder now.
func (s *Server) DumpGoroutines(_ context.Context, p model.DumpGoroutinesParams) (model.DumpInfo, error) {
	reason := p.Reason
	if reason == "" {
		reason = "requested"
	}
	path, err := s.wd.Dump(reason)
	if err != nil {
		return model.DumpInfo{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return model.DumpInfo{}, fmt.Errorf("dump %s: %w", path, errdefs.ErrFilesystem)
	}
	return model.DumpInfo{Name: filepath.Base(path), Size: st.Size(), Time: st.ModTime(), Reason: reason}, nil
}

// MaxDiagnoseBytes caps an evidence bundle.
const MaxDiagnoseBytes = 32 << 20

// Diagnose gathers an evidence bundle (tar.gz): the newest dumps, the log
// ring, the watchdog report, process status, open file and thread counts,
// and the engine's answer when it has one.
func (s *Server) Diagnose(ctx context.Context) (model.DiagnoseBundle, error) {
	var buf capBuffer
	buf.limit = MaxDiagnoseBytes
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	now := s.cfg.Now()
	add := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: now}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	var errs []error
	report, _ := s.Watchdog(ctx)
	errs = append(errs, add("watchdog.json", mustJSON(report)))
	var logs strings.Builder
	s.writeLogEvidence(&logs)
	errs = append(errs, add("log-ring.txt", []byte(logs.String())))
	errs = append(errs, add("process.txt", []byte(processStatus())))
	for _, d := range newestDumps(report.Watchdog.Dumps, 3) {
		b, err := os.ReadFile(filepath.Join(s.path("watchdog"), d.Name))
		if err == nil {
			errs = append(errs, add("dumps/"+d.Name, b))
		}
	}
	if s.engineInfo != nil {
		errs = append(errs, add("engine.txt", []byte(s.engineInfo(ctx))))
	}
	if s.services != nil {
		// What the engine refused to remove (the sweeper retries it).
		errs = append(errs, add("engine-leftovers.json", mustJSON(s.services.Leftovers())))
	}
	errs = append(errs, tw.Close(), gz.Close())
	if err := errors.Join(errs...); err != nil {
		return model.DiagnoseBundle{}, fmt.Errorf("diagnose: %w", err)
	}
	return model.DiagnoseBundle{Name: "startos-diagnose-" + now.UTC().Format("20060102T150405Z") + ".tar.gz", Data: buf.b}, nil
}

func newestDumps(ds []model.DumpInfo, n int) []model.DumpInfo {
	ds = append([]model.DumpInfo(nil), ds...)
	sort.Slice(ds, func(i, j int) bool { return ds[i].Time.After(ds[j].Time) })
	if len(ds) > n {
		ds = ds[:n]
	}
	return ds
}

// processStatus is /proc/self/status plus counts of open files and threads.
func processStatus() string {
	var b strings.Builder
	status, _ := os.ReadFile("/proc/self/status")
	b.Write(status)
	fds, _ := os.ReadDir("/proc/self/fd")
	tasks, _ := os.ReadDir("/proc/self/task")
	fmt.Fprintf(&b, "\nopen files: %d\nthreads: %d\ngoroutines: %d\ngo: %s\n", len(fds), len(tasks), runtime.NumGoroutine(), runtime.Version())
	return b.String()
}

// capBuffer is a bytes buffer that refuses to grow past limit.
type capBuffer struct {
	b     []byte
	limit int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if len(c.b)+len(p) > c.limit {
		return 0, fmt.Errorf("evidence bundle exceeds %d bytes: %w", c.limit, errdefs.ErrFilesystem)
	}
	c.b = append(c.b, p...)
	return len(p), nil
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return []byte(err.Error())
	}
	return b
}
