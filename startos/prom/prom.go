// Package prom exports the box to Prometheus: the background sample of CPU,
// memory, disk and temperature, each package's state, health, CPU and
// memory, RPC calls by method and code with their latency, the watchdog's
// probes and the log sinks. Everything but the RPC counters is read at
// scrape time from what the library already keeps; only the per-package
// CPU and memory ask the engine, under a deadline.
package prom

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/startos-go/startos/startos/model"
)

// statsTimeout bounds the engine calls of one scrape.
const statsTimeout = 5 * time.Second

// Sources are where a scrape reads from. Each may be nil.
type Sources struct {
	Box          func() (model.Metrics, bool)
	Document     func() *model.Document
	PackageStats func(context.Context) (map[string]model.PackageStats, error)
	Watchdog     func() model.WatchdogStatus
	LogSinks     func() []model.LogSinkStats
	Revision     func() uint64
	Delivery     func() []model.DeliveryStats
}

// Exporter is one registry with the box's collectors.
type Exporter struct {
	reg     *prometheus.Registry
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// New returns an Exporter reading from src.
func New(src Sources) *Exporter {
	e := &Exporter{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "startos_rpc_requests_total",
			Help: "RPC calls answered, by method (\"unknown\" for names not in the method table) and error code (0 for success).",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "startos_rpc_request_duration_seconds",
			Help:    "Time to answer an RPC call (for a stream, until it is set up), by method.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method"}),
	}
	e.reg.MustRegister(e.calls, e.latency, &collector{src: src},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e
}

// ObserveCall counts one RPC call. method must be a name from the method
// table (or "unknown"): it becomes a label, so strangers' method names must
// not reach it.
func (e *Exporter) ObserveCall(method string, code int, d time.Duration) {
	e.calls.WithLabelValues(method, strconv.Itoa(code)).Inc()
	e.latency.WithLabelValues(method).Observe(d.Seconds())
}

// Handler serves the text exposition format. It checks no credentials:
// the transport does.
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{Timeout: 2 * statsTimeout, MaxRequestsInFlight: 4})
}

// Registry is the exporter's registry, for library users that gather or
// push the metrics themselves, or add their own.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// collector turns the library's state into metrics at each scrape. Its
// label sets change as packages and probes come and go, so it describes
// nothing up front (an unchecked collector).
type collector struct{ src Sources }

func (c *collector) Describe(chan<- *prometheus.Desc) {}

func gauge(ch chan<- prometheus.Metric, name, help string, v float64, labels ...string) {
	var names, values []string
	for i := 0; i+1 < len(labels); i += 2 {
		names = append(names, labels[i])
		values = append(values, labels[i+1])
	}
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, names, nil), prometheus.GaugeValue, v, values...)
}

func counter(ch chan<- prometheus.Metric, name, help string, v float64, labels ...string) {
	var names, values []string
	for i := 0; i+1 < len(labels); i += 2 {
		names = append(names, labels[i])
		values = append(values, labels[i+1])
	}
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, names, nil), prometheus.CounterValue, v, values...)
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.collectBox(ch)
	c.collectPackages(ch)
	c.collectWatchdog(ch)
	c.collectDelivery(ch)
	if c.src.LogSinks != nil {
		for _, s := range c.src.LogSinks() {
			counter(ch, "startos_log_lines_written_total", "Log lines a sink wrote in full.", float64(s.Written), "sink", s.Name)
			counter(ch, "startos_log_lines_dropped_total", "Log lines a sink lost (queue full, write failed, sink dead).", float64(s.Dropped), "sink", s.Name)
			gauge(ch, "startos_log_sink_degraded", "1 while a log sink is stuck, dropping or dead.", bool01(s.Degraded), "sink", s.Name)
		}
	}
}

func (c *collector) collectDelivery(ch chan<- prometheus.Metric) {
	if c.src.Delivery == nil {
		return
	}
	for _, d := range c.src.Delivery() {
		counter(ch, "startos_notifications_delivered_total", "Notifications delivered off the box, by channel (email, webhook).", float64(d.Delivered), "channel", d.Channel)
		counter(ch, "startos_notifications_failed_total", "Notification deliveries given up after every retry, by channel.", float64(d.Failed), "channel", d.Channel)
		counter(ch, "startos_notifications_dropped_total", "Notification deliveries dropped because the channel's queue was full.", float64(d.Dropped), "channel", d.Channel)
	}
}

func (c *collector) collectBox(ch chan<- prometheus.Metric) {
	if c.src.Box == nil {
		return
	}
	m, ok := c.src.Box()
	if !ok {
		return
	}
	val := func(v model.MetricValue, scale float64) (float64, bool) {
		f, err := v.Float()
		return f * scale, err == nil
	}
	const mib, gb = 1 << 20, 1e9
	for _, x := range []struct {
		mode string
		v    model.MetricValue
	}{{"user", m.CPU.UserSpace}, {"kernel", m.CPU.KernelSpace}, {"wait", m.CPU.Wait}, {"idle", m.CPU.Idle}} {
		if f, ok := val(x.v, 1); ok {
			gauge(ch, "startos_cpu_percent", "Share of CPU time over the last sample, by mode.", f, "mode", x.mode)
		}
	}
	if f, ok := val(m.CPU.PercentageUsed, 1); ok {
		gauge(ch, "startos_cpu_used_percent", "CPU in use over the last sample.", f)
	}
	for _, x := range []struct {
		kind string
		v    model.MetricValue
	}{{"total", m.Memory.Total}, {"available", m.Memory.Available}, {"used", m.Memory.Used}} {
		if f, ok := val(x.v, mib); ok {
			gauge(ch, "startos_memory_bytes", "Memory, by kind (total, available, used).", f, "kind", x.kind)
		}
	}
	if f, ok := val(m.Memory.PercentageUsed, 1); ok {
		gauge(ch, "startos_memory_used_percent", "Memory in use.", f)
	}
	for _, x := range []struct {
		kind string
		v    model.MetricValue
	}{{"capacity", m.Disk.Capacity}, {"available", m.Disk.Available}, {"used", m.Disk.Used}} {
		if f, ok := val(x.v, gb); ok {
			gauge(ch, "startos_disk_bytes", "The data folder's filesystem, by kind (capacity, available, used).", f, "kind", x.kind)
		}
	}
	if f, ok := val(m.Disk.PercentageUsed, 1); ok {
		gauge(ch, "startos_disk_used_percent", "The data folder's filesystem in use.", f)
	}
	if m.General.Temperature != nil {
		if f, ok := val(*m.General.Temperature, 1); ok {
			gauge(ch, "startos_temperature_celsius", "The hottest thermal zone.", f)
		}
	}
	if !m.SampledAt.IsZero() {
		gauge(ch, "startos_metrics_sampled_timestamp_seconds", "When the box metrics above were sampled.", float64(m.SampledAt.UnixNano())/1e9)
	}
}

func (c *collector) collectPackages(ch chan<- prometheus.Metric) {
	if c.src.Document == nil {
		return
	}
	doc := c.src.Document()
	if c.src.Revision != nil {
		gauge(ch, "startos_state_revision", "The state document's revision (every committed change adds one).", float64(c.src.Revision()))
	}
	gauge(ch, "startos_notifications_unread", "Notifications not yet seen.", float64(doc.Public.ServerInfo.UnreadNotificationCount))
	for id, e := range doc.Public.PackageData {
		gauge(ch, "startos_package_info", "1 per package, labelled with its state (installed, installing, updating, restoring, removing) and desired status.", 1,
			"package", id, "state", string(e.StateInfo.State), "desired", string(e.StatusInfo.Desired.Main))
		gauge(ch, "startos_package_running", "1 while the package's main container runs (statusInfo.started is set).", bool01(e.StatusInfo.Started != nil), "package", id)
		gauge(ch, "startos_package_error", "1 while the package's statusInfo.error is set.", bool01(e.StatusInfo.Error != nil), "package", id)
		for check, h := range e.StatusInfo.Health {
			gauge(ch, "startos_package_health_ok", "1 while a health check passes, 0 otherwise (see the result label).", bool01(h.Result == model.HealthSuccess),
				"package", id, "check", check, "result", string(h.Result))
		}
	}
	if c.src.PackageStats == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	stats, err := c.src.PackageStats(ctx)
	gauge(ch, "startos_package_stats_up", "1 when the engine answered the per-package resource query of this scrape.", bool01(err == nil))
	for id, s := range stats {
		gauge(ch, "startos_package_cpu_percent", "CPU use of the package's main container, percent of one CPU.", s.CPU, "package", id)
		gauge(ch, "startos_package_memory_bytes", "Memory of the package's main container, page cache excluded.", float64(s.Memory), "package", id)
		if s.MemoryLimit > 0 {
			gauge(ch, "startos_package_memory_limit_bytes", "The memory limit of the package's main container.", float64(s.MemoryLimit), "package", id)
		}
	}
}

func (c *collector) collectWatchdog(ch chan<- prometheus.Metric) {
	if c.src.Watchdog == nil {
		return
	}
	w := c.src.Watchdog()
	for _, st := range []string{model.WatchdogOK, model.WatchdogDegraded, model.WatchdogStalled} {
		gauge(ch, "startos_watchdog_state", "1 for the watchdog's current state (ok, degraded, stalled).", bool01(w.State == st), "state", st)
	}
	gauge(ch, "startos_watchdog_ready", "1 once the daemon reported itself ready.", bool01(w.Ready))
	counter(ch, "startos_watchdog_dumps_skipped_total", "Goroutine dumps not written because of the hourly limit.", float64(w.DumpsSkipped))
	for _, p := range w.Probes {
		gauge(ch, "startos_watchdog_probe_last_success_age_seconds", "Time since the probe last succeeded.", float64(p.LastSuccessAgeMs)/1e3,
			"probe", p.Name, "severity", p.Severity)
		gauge(ch, "startos_watchdog_probe_ok", "1 while the probe is within its miss threshold.", bool01(p.State == model.ProbeOK), "probe", p.Name)
		counter(ch, "startos_watchdog_probe_misses_total", "Episodes in which the probe reached its miss threshold.", float64(p.Misses), "probe", p.Name)
		counter(ch, "startos_watchdog_probe_megamisses_total", "Episodes in which the probe reached its megamiss threshold (a goroutine dump).", float64(p.Megamisses), "probe", p.Name)
	}
}
