package model

import (
	"encoding/json"
	"time"
)

// ActionResult is what package.action.run answers: StartOS's version-1
// result (see V1), built from the StartOS 0.3 result the package wrote (a
// message, and optionally a value the UI shows, lets the user copy, or
// renders as a QR code), whose fields it keeps too.
type ActionResult struct {
	Version string `json:"version"`
	// Title, Message and Result are StartOS's version-1 result (title the
	// action's name; result the value, if any, as a "single" member).
	Title   string             `json:"title,omitempty"`
	Message string             `json:"message"`
	Result  *ActionResultValue `json:"result,omitempty"`
	// Value, Copyable and QR are the StartOS 0.3 (version "0") fields the
	// package wrote, kept beside for clients that read them.
	Value    *string `json:"value"`
	Copyable bool    `json:"copyable"`
	QR       bool    `json:"qr"`
}

// ActionResultValue is a version-1 result value: a single string.
type ActionResultValue struct {
	Type     string `json:"type"` // "single"
	Value    string `json:"value"`
	Copyable bool   `json:"copyable"`
	QR       bool   `json:"qr"`
	Masked   bool   `json:"masked"`
}

// V1 is r as StartOS's version-1 result titled title, keeping the
// version-0 fields beside it.
func (r ActionResult) V1(title string) ActionResult {
	r.Version, r.Title = "1", title
	r.Result = nil
	if r.Value != nil {
		r.Result = &ActionResultValue{Type: "single", Value: *r.Value, Copyable: r.Copyable, QR: r.QR}
	}
	return r
}

// MarshalJSON writes a version-1 result's result as null when there is no
// value, as StartOS does.
func (r ActionResult) MarshalJSON() ([]byte, error) {
	type plain ActionResult
	if r.Version != "1" {
		return json.Marshal(plain(r))
	}
	return json.Marshal(struct {
		plain
		Title  string             `json:"title"`
		Result *ActionResultValue `json:"result"`
	}{plain(r), r.Title, r.Result})
}

// ActionInput is what package.action.get-input returns: the action's input
// spec (a StartOS config spec) and the current value, if any.
type ActionInput struct {
	// EventID names this request for input; package.action.run takes it
	// back so the daemon's log ties the run to it, as StartOS's eventId.
	EventID string         `json:"eventId"`
	Spec    map[string]any `json:"spec"`
	// Value is the prefill the caller asked for (the form's defaults), or
	// null.
	Value map[string]any `json:"value"`
}

// ActionParams is the params of package.action.run.
type ActionParams struct {
	PackageID string `json:"packageId"`
	ActionID  string `json:"actionId"`
	Input     any    `json:"input,omitempty"`
	// EventID is the eventId package.action.get-input answered (or null);
	// the daemon records it with the run in its log.
	EventID string `json:"eventId,omitempty"`
}

// PackageStats is one package's resource use (package.stats). The first
// three fields are StartOS's ServiceStats, keys and units as StartOS writes
// them (snake_case; whole MiB); the rest are startd's finer figures.
type PackageStats struct {
	ContainerID    string  `json:"container_id"` // the main container's name
	MemoryUsageMiB uint64  `json:"memory_usage"` // MiB in use, page cache excluded
	MemoryLimitMiB uint64  `json:"memory_limit"` // MiB
	Memory         uint64  `json:"memory"`       // bytes in use, page cache excluded
	MemoryLimit    uint64  `json:"memoryLimit"`  // bytes
	CPU            float64 `json:"cpu"`          // percent of one CPU
}

// PackageLogsParams is the params of package.logs (and, without Before, of
// package.logs.follow).
type PackageLogsParams struct {
	ID string `json:"id"`
	LogsParams
}

// PackageLogEntry is one line a package's main container wrote. Cursor is
// the engine's timestamp of the line.
type PackageLogEntry struct {
	Timestamp time.Time `json:"timestamp"`
	Stream    string    `json:"stream"` // stdout or stderr
	Message   string    `json:"message"`
	Cursor    string    `json:"cursor"`
	BootID    string    `json:"bootId"` // the kernel's boot id, as in StartOS
}

// PackageLogPage is one page of a package's log, oldest first.
type PackageLogPage struct {
	Entries     []PackageLogEntry `json:"entries"`
	StartCursor string            `json:"startCursor,omitempty"`
	EndCursor   string            `json:"endCursor,omitempty"`
}

// Dependency states, as the StartOS UI names them.
const (
	DependencySatisfied          = "satisfied"
	DependencyNotInstalled       = "notInstalled"
	DependencyIncorrectVersion   = "incorrectVersion"
	DependencyNotRunning         = "notRunning"
	DependencyHealthChecksFailed = "healthChecksFailed"
	// DependencyConfigUnsatisfied: the dependency's config fails this
	// package's config check; auto-configure can fix it.
	DependencyConfigUnsatisfied = "configUnsatisfied"
)

// DependencyStatus is the state of one declared dependency of a package.
type DependencyStatus struct {
	Kind     string `json:"kind"`
	Required bool   `json:"required"`
	Expected string `json:"expected,omitempty"` // the version range, for incorrectVersion
	Received string `json:"received,omitempty"` // the installed version, for incorrectVersion
	Check    string `json:"check,omitempty"`    // the failing health check, for healthChecksFailed
	Message  string `json:"message,omitempty"`  // a sentence a person can read
}

// ConfigSetParams is the params of package.config.set: the whole new
// config; with DryRun nothing changes and the answer says what would break.
type ConfigSetParams struct {
	ID     string         `json:"id"`
	Config map[string]any `json:"config"`
	DryRun bool           `json:"dryRun,omitempty"`
}

// Breakage is one dependent a config change would break (StartOS 0.3's
// TaggedDependencyError): which dependency, and the dependent's check's
// message.
type Breakage struct {
	Dependency string `json:"dependency"`
	Error      string `json:"error"`
}

// DependencyConfigureParams is the params of package.dependency.configure:
// run the dependent's auto-configure on the dependency's config.
type DependencyConfigureParams struct {
	DependentID  string `json:"dependentId"`
	DependencyID string `json:"dependencyId"`
	DryRun       bool   `json:"dryRun,omitempty"`
}
