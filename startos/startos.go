// Package startos is the library behind startd: it owns the box's state and
// everything that acts on it. Frontends reach it through the RPC surface in
// package rpc, or import it directly. It imports no transport or UI package.
package startos

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/backup"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/install"
	"github.com/startos-go/startos/startos/logging"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/market"
	"github.com/startos-go/startos/startos/metrics"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/net/ca"
	"github.com/startos-go/startos/startos/notify"
	"github.com/startos-go/startos/startos/prom"
	"github.com/startos-go/startos/startos/service"
	"github.com/startos-go/startos/startos/watchdog"
)

// Version is the version of this software.
const Version = "0.1.0"

// Compat is the StartOS release whose package format and RPC names this
// version follows.
const Compat = "0.3.5.1"

// Config is what Open needs to know. DataDir is required.
type Config struct {
	DataDir  string           // durable state: db/, packages/, volumes/, logs/, watchdog/
	RunDir   string           // sockets and the auth cookie; defaults to DataDir/run
	LogLevel hclog.Level      // defaults to Info
	Stderr   io.Writer        // the log's stderr sink; defaults to os.Stderr
	Now      func() time.Time // defaults to time.Now; tests inject
	// PasswordParams overrides the argon2id cost of new password hashes
	// (tests use a cheap one); nil means auth.DefaultParams.
	PasswordParams *auth.Params
	// Watchdog sets the watchdog's thresholds and systemd settings; Dir,
	// Logger, OnMegamiss and Evidence are filled by Open.
	Watchdog watchdog.Config
	// HandleSignals makes SIGUSR1 write a goroutine dump (startd sets it; a
	// program embedding the library may not want its signals taken).
	HandleSignals bool
	// BlockingLogControl is a fault-injection control, never for use: the
	// logger writes straight to Stderr under hclog's lock, as StartOS's
	// did, so a test can show what a wedged stderr does without our
	// non-blocking logging.
	BlockingLogControl bool
	// Engine is where the container engine is; the zero value means
	// $DOCKER_HOST or the local socket.
	Engine container.Options
	// AllowLocalDownloads lets package.install fetch from loopback,
	// link-local and private addresses (tests, a registry on the LAN).
	AllowLocalDownloads bool
	// ReservedPorts are host ports packages may not publish: the daemon's
	// own listeners.
	ReservedPorts []uint16
	// AuthorizedKeys is the authorized_keys file the owner's SSH keys are
	// written to; empty means they are kept in the state only.
	AuthorizedKeys string
	// Delivery tunes how notifications leave the box (email, webhooks):
	// retries, deadlines, the CAs that verify servers (nil: the system's).
	// Logger and Settings are filled by Open.
	Delivery notify.Options
	// RestartCommand and ShutdownCommand are what server.restart and
	// server.shutdown run (argv, no shell); empty means systemctl.
	RestartCommand, ShutdownCommand []string
	// DefaultRegistries seed the registry list of a box that never had one.
	DefaultRegistries []string
	// RegistryRefresh is the scheduled registry refresh period (default
	// 6 h, jittered); negative turns it off.
	RegistryRefresh time.Duration
	// AllowRegistryRedirects lets index and archive downloads follow a
	// redirect off the registry's host.
	AllowRegistryRedirects bool
	// RegistryStallTimeout ends a registry download that delivers nothing
	// for that long; default 60 s.
	RegistryStallTimeout time.Duration
	// Alerts sets when trouble (a crash loop, a failing health check, a
	// full disk) becomes a notification; see Alerts.
	Alerts Alerts
	// HealthGrace and HealthInterval override StartOS's health check timing
	// (5 s after start, then every 15 s); tests shorten them.
	HealthGrace, HealthInterval time.Duration
}

// Server is one running box. Create it with Open and release it with Close.
type Server struct {
	cfg      Config
	logs     *logging.Logging
	log      hclog.Logger
	db       *db.Store
	metrics  *metrics.Sampler
	sessions *auth.Sessions
	wd       *watchdog.Watchdog
	// engineInfo describes the container engine for diagnose; nil until the
	// engine is in use.
	engineInfo func(context.Context) string
	engine     *container.Client
	services   *service.Manager
	installer  *install.Installer
	backups    *backup.Manager
	market     *market.Market
	lock       *dirLock
	started    time.Time
	ca         *ca.CA    // the box's root CA (net/ca)
	lan        *lanState // the LAN router, once StartLAN has run
	// powerStarted is set by the first restart or shutdown: the services
	// are closed after it, so the command must not run twice.
	powerStarted atomic.Bool
	summaries    summaryCache       // package.list of the newest revision
	prom         *prom.Exporter     // GET /metrics
	notifier     *notify.Dispatcher // email and webhooks
	disk         *diskAlarm         // the disk-full check (alerts.go)
	pkgwire      *pkgWire           // derives packageData's StartOS 0.4 fields
}

// Open prepares the data directory, takes its lock (one daemon per data
// directory) and returns a Server ready to answer calls.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("startos: config: data dir is required")
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("startos: data dir %q: %w", cfg.DataDir, err)
	}
	cfg.DataDir = dataDir
	if cfg.RunDir == "" {
		cfg.RunDir = filepath.Join(dataDir, "run")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for _, dir := range []string{cfg.DataDir, cfg.RunDir} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("startos: create %s: %w", dir, err)
		}
	}
	lock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	logs, err := logging.New(logging.Options{
		Name:   "startd",
		Level:  cfg.LogLevel,
		Stderr: cfg.Stderr,
		Dir:    filepath.Join(cfg.DataDir, "logs"),
	})
	if err != nil {
		_ = lock.release()
		return nil, fmt.Errorf("startos: logging: %w", err)
	}
	s := &Server{cfg: cfg, logs: logs, log: logs.Logger(), lock: lock, started: cfg.Now()}
	if cfg.BlockingLogControl {
		out := cfg.Stderr
		if out == nil {
			out = os.Stderr
		}
		s.log = hclog.New(&hclog.LoggerOptions{Name: "startd", Level: cfg.LogLevel, Output: out})
	}
	if err := s.openCA(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.openState(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.openNotifier()
	s.openDiskAlarm()
	if err := s.startPkgWire(); err != nil {
		s.Close()
		return nil, fmt.Errorf("startos: package fields: %w", err)
	}
	if err := s.syncAuthorizedKeys(); err != nil {
		// The box must still come up to be repaired; ssh.add retries.
		s.log.Error("authorized_keys not written", "path", cfg.AuthorizedKeys, "error", err)
	}
	if s.metrics, err = metrics.New(metrics.Options{DataDir: cfg.DataDir, Logger: s.log.Named("metrics")}); err != nil {
		s.Close()
		return nil, fmt.Errorf("startos: metrics: %w", err)
	}
	s.metrics.Start()
	if err := s.startWatchdog(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.openAccounts(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.openServices(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("startos: services: %w", err)
	}
	s.openPrometheus()
	s.log.Info("library open", "data-dir", cfg.DataDir, "run-dir", cfg.RunDir, "version", Version, "revision", s.db.Revision())
	return s, nil
}

// Close releases everything Open acquired. It is safe to call more than once.
func (s *Server) Close() error {
	if s.lock == nil {
		return nil
	}
	lanErr := s.closeLAN()
	servicesErr := s.closeServices()
	var wdErr error
	if s.wd != nil {
		wdErr = s.wd.Close()
	}
	var metricsErr error
	if s.metrics != nil {
		metricsErr = s.metrics.Close()
	}
	s.disk.stop()
	if s.notifier != nil {
		s.notifier.Close()
	}
	s.closePkgWire()
	stateErr := s.closeState()
	s.log.Info("library closed")
	err := errors.Join(lanErr, servicesErr, wdErr, metricsErr, stateErr, s.logs.Close(), s.lock.release())
	s.lock = nil
	return err
}

// path joins elements under the data directory.
func (s *Server) path(elem ...string) string {
	return filepath.Join(append([]string{s.cfg.DataDir}, elem...)...)
}

// DataDir is the absolute data directory.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// RunDir is the absolute run directory.
func (s *Server) RunDir() string { return s.cfg.RunDir }

// Logs returns a page of the daemon's own log.
func (s *Server) Logs(_ context.Context, p model.LogsParams) (model.LogPage, error) {
	return s.logs.Entries(p)
}

// FollowLogs returns recent log entries and a feed of the ones that follow.
func (s *Server) FollowLogs(_ context.Context, p model.LogsParams) (model.LogPage, *feed.Feed[model.LogEntry], error) {
	return s.logs.Follow(p)
}

// Metrics returns the latest sample of CPU, memory, disk and temperature; it
// never waits for a reading.
func (s *Server) Metrics(context.Context) (model.Metrics, error) {
	m, ok := s.metrics.Latest()
	if !ok {
		return model.Metrics{}, fmt.Errorf("metrics: no sample yet; the first arrives about a second after start: %w", errdefs.ErrUnavailable)
	}
	return m, nil
}

// FollowMetrics returns the latest sample and a feed of each new one.
func (s *Server) FollowMetrics(context.Context) (model.Metrics, *feed.Feed[model.Metrics], error) {
	return s.metrics.Follow()
}

// LogSinks reports the health of each log sink.
func (s *Server) LogSinks() []model.LogSinkStats { return s.logs.Stats() }

// Logger is the library's logger, for frontends that serve it.
func (s *Server) Logger() hclog.Logger { return s.log }

// Echo returns its message; it is the cheapest full round trip through a
// transport and the watchdog's loopback probe.
func (s *Server) Echo(_ context.Context, p model.EchoParams) (string, error) {
	return p.Message, nil
}

// State tells which mode the daemon is in.
func (s *Server) State(context.Context) (model.ServerState, error) {
	return model.StateRunning, nil
}

// Time returns the box's clock and how long the daemon has run.
func (s *Server) Time(context.Context) (model.ServerTime, error) {
	now := s.cfg.Now()
	return model.ServerTime{Now: now.UTC(), Uptime: uint64(now.Sub(s.started) / time.Second)}, nil
}

// DeviceInfo describes the software and the machine.
func (s *Server) DeviceInfo(context.Context) (model.DeviceInfo, error) {
	host, err := os.Hostname()
	if err != nil {
		return model.DeviceInfo{}, fmt.Errorf("hostname: %w", err)
	}
	return model.DeviceInfo{
		OS:       model.OSInfo{Version: Version, Compat: Compat, Platform: runtime.GOOS + "-" + runtime.GOARCH},
		Hardware: model.HardwareInfo{Arch: Arch(), RAM: totalRAM()},
		Hostname: host,
	}, nil
}

// Arch is the machine architecture in StartOS's spelling (x86_64, aarch64).
func Arch() string { return manifest.HostArch() }

// totalRAM reads MemTotal from /proc/meminfo; 0 when it cannot be read.
func totalRAM() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) >= 2 && string(fields[0]) == "MemTotal:" {
			kb, err := strconv.ParseUint(string(fields[1]), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}
