package live

import (
	"time"

	"github.com/startos-go/startos/startos/model"
)

// Phase is where the connection to the daemon stands.
type Phase int

const (
	Connecting   Phase = iota // dialling or subscribing
	Connected                 // the state, metrics and logs are live
	Disconnected              // lost or refused; the next attempt starts at RetryAt
	NeedLogin                 // the remote session is missing or expired: call Login
)

func (p Phase) String() string {
	switch p {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case NeedLogin:
		return "login required"
	}
	return "unknown"
}

// ConnState is the connection as the UI shows it.
type ConnState struct {
	Phase   Phase
	Target  string    // what is dialled, for messages
	Err     error     // why it is not connected (Disconnected, NeedLogin)
	RetryAt time.Time // Disconnected: when the next attempt starts
	Remote  bool      // an HTTP host rather than the local socket
}

// State is one revision of the public state document, decoded off the UI
// goroutine, with each package's manifest picked apart.
type State struct {
	Rev       uint64
	Doc       model.PublicDocument
	Manifests map[string]*Manifest // by package id
}

// ServerClock is server.time as read at local time At, so the UI can show
// uptime without asking again.
type ServerClock struct {
	Time model.ServerTime
	At   time.Time
}

// WatchdogReport is the daemon's watchdog, when it has a server.watchdog
// method.
type WatchdogReport struct {
	Supported bool
	Status    model.WatchdogStatus
	Err       error // the last read failed
}

// LogBatch is what a log stream delivered since the last Take.
type LogBatch struct {
	Source  string // "" for the daemon's log, else a package id
	Reset   bool   // a new subscription: the entries replace what was shown
	Entries []model.LogEntry
	Dropped int   // entries left out because the UI fell behind
	Err     error // the stream ended (or never started) with this
}

// UploadProgress is the local side of a sideload: bytes sent of the file.
type UploadProgress struct {
	Sent, Total int64
	Done        bool
	Err         error
}

// Update is everything that changed since the last Take. Nil fields did not
// change.
type Update struct {
	Conn     *ConnState
	State    *State
	Clock    *ServerClock
	Metrics  []model.Metrics // new samples, oldest first
	Watchdog *WatchdogReport
	Logs     *LogBatch
	Upload   *UploadProgress
}

// Empty reports whether u carries nothing.
func (u Update) Empty() bool {
	return u.Conn == nil && u.State == nil && u.Clock == nil && len(u.Metrics) == 0 &&
		u.Watchdog == nil && u.Logs == nil && u.Upload == nil
}

// Bounds on what waits for the UI; beyond them old items are dropped.
const (
	maxPendingMetrics = 64
	maxPendingLogs    = 2000
)

// merge folds v (newer) into u.
func (u *Update) merge(v Update) {
	if v.Conn != nil {
		u.Conn = v.Conn
	}
	if v.State != nil {
		u.State = v.State
	}
	if v.Clock != nil {
		u.Clock = v.Clock
	}
	if v.Watchdog != nil {
		u.Watchdog = v.Watchdog
	}
	if v.Upload != nil {
		u.Upload = v.Upload
	}
	if len(v.Metrics) > 0 {
		u.Metrics = append(u.Metrics, v.Metrics...)
		if n := len(u.Metrics) - maxPendingMetrics; n > 0 {
			u.Metrics = append(u.Metrics[:0:0], u.Metrics[n:]...)
		}
	}
	if v.Logs != nil {
		if u.Logs == nil || v.Logs.Reset || v.Logs.Source != u.Logs.Source {
			b := *v.Logs
			b.Entries = append([]model.LogEntry(nil), v.Logs.Entries...)
			u.Logs = &b
		} else {
			u.Logs.Entries = append(u.Logs.Entries, v.Logs.Entries...)
			u.Logs.Dropped += v.Logs.Dropped
			if v.Logs.Err != nil {
				u.Logs.Err = v.Logs.Err
			}
		}
		if n := len(u.Logs.Entries) - maxPendingLogs; n > 0 {
			u.Logs.Entries = append(u.Logs.Entries[:0:0], u.Logs.Entries[n:]...)
			u.Logs.Dropped += n
		}
	}
}
