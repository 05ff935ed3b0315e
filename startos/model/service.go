package model

import "time"

// ActionResult is a StartOS 0.3-style action result (version "0"): a message,
// and optionally a value the UI shows, lets the user copy, or renders as a
// QR code.
type ActionResult struct {
	Version  string  `json:"version"`
	Message  string  `json:"message"`
	Value    *string `json:"value"`
	Copyable bool    `json:"copyable"`
	QR       bool    `json:"qr"`
}

// ActionInput is what package.action.get-input returns: the action's input
// spec (a StartOS config spec) and the current value, if any.
type ActionInput struct {
	Spec  map[string]any `json:"spec"`
	Value map[string]any `json:"value"`
}

// ActionParams is the params of package.action.run.
type ActionParams struct {
	PackageID string `json:"packageId"`
	ActionID  string `json:"actionId"`
	Input     any    `json:"input,omitempty"`
}

// PackageStats is one package's resource use (package.stats).
type PackageStats struct {
	Memory      uint64  `json:"memory"`      // bytes in use, page cache excluded
	MemoryLimit uint64  `json:"memoryLimit"` // bytes
	CPU         float64 `json:"cpu"`         // percent of one CPU
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
