package model

import "time"

// Watchdog states, overall and per probe.
const (
	WatchdogOK       = "ok"       // every probe succeeded within its miss threshold
	WatchdogDegraded = "degraded" // a Degraded probe is past its miss threshold; nothing is killed for it
	WatchdogStalled  = "stalled"  // a Fatal probe is past its miss threshold

	ProbeOK       = "ok"
	ProbeMiss     = "miss"     // past the miss threshold: counted and warned
	ProbeMegamiss = "megamiss" // past the megamiss threshold: goroutines dumped
)

// WatchdogStatus is the runtime watchdog's report: every probe and the
// goroutine dumps on disk.
type WatchdogStatus struct {
	State        string        `json:"state"`        // ok, degraded or stalled
	Ready        bool          `json:"ready"`        // READY=1 was sent (or would have been, without systemd)
	Pauses       uint64        `json:"pauses"`       // ticks that came so late the clocks were reset (suspend, SIGSTOP)
	DumpsSkipped uint64        `json:"dumpsSkipped"` // megamiss dumps not written because of the hourly limit
	Probes       []ProbeStatus `json:"probes"`
	Dumps        []DumpInfo    `json:"dumps"` // oldest first
}

// ProbeStatus is one watched thing: a probe, a heartbeat, a named lock, a
// worker pool or a scoped deadline.
type ProbeStatus struct {
	Name             string `json:"name"`
	Kind             string `json:"kind"`     // probe, heartbeat, mutex, pool, scope
	Severity         string `json:"severity"` // fatal or degraded
	State            string `json:"state"`    // ok, miss or megamiss
	LastSuccessAgeMs int64  `json:"lastSuccessAgeMs"`
	Misses           uint64 `json:"misses"`               // episodes that reached the miss threshold
	Megamisses       uint64 `json:"megamisses"`           // episodes that reached the megamiss threshold
	InFlightMs       int64  `json:"inFlightMs,omitempty"` // how long the running check has taken; 0 when none runs
	LastError        string `json:"lastError,omitempty"`
	Detail           string `json:"detail,omitempty"` // who holds a lock, how busy a pool is
}

// DumpInfo is one goroutine dump in the watchdog folder.
type DumpInfo struct {
	Name   string    `json:"name"` // file name inside <data-dir>/watchdog
	Size   int64     `json:"size"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// WatchdogReport is the result of server.watchdog: the probes and dumps,
// and the health of each log sink.
type WatchdogReport struct {
	Watchdog WatchdogStatus `json:"watchdog"`
	Sinks    []LogSinkStats `json:"sinks"`
}

// DumpGoroutinesParams is the params of server.dump.
type DumpGoroutinesParams struct {
	Reason string `json:"reason,omitempty"`
}

// DiagnoseBundle is an evidence bundle: a tar.gz (base64 in JSON).
type DiagnoseBundle struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}
