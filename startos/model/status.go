package model

import "slices"

// Primary statuses a person sees besides the desired states.
const (
	StatusError    = "error"
	StatusStarting = "starting"
	StatusStopping = "stopping"
	// StatusNeedsConfig: the package has a config spec and no saved config;
	// it cannot start until one is saved.
	StatusNeedsConfig = "needs-config"
)

// DisplayStatus is what a person sees of one package.
type DisplayStatus struct {
	// Primary is the lifecycle state while not installed, else error,
	// starting, stopping or the desired state (running, stopped,
	// restarting, backing-up). On the wire it is runStatus: "status" is
	// the lifecycle state, as in StartOS's package.list.
	Primary string `json:"runStatus"`
	// Health is the aggregate of the health checks while the package
	// should run: failure, starting, loading or success; "" without checks.
	Health string `json:"health,omitempty"`
}

// DeriveStatus derives the status as StartOS's UI does
// (pkg-status-rendering): every frontend shows the same thing.
func DeriveStatus(e *PackageDataEntry) DisplayStatus {
	if e.StateInfo.State != PackageInstalled {
		return DisplayStatus{Primary: string(e.StateInfo.State)}
	}
	si := &e.StatusInfo
	desired := si.Desired.Main
	if desired == "" {
		desired = DesiredStopped
	}
	var s DisplayStatus
	if desired == DesiredRunning {
		s.Health = AggregateHealth(si.Health)
	}
	switch {
	case si.Error != nil:
		s.Primary = StatusError
	case si.NeedsConfig() && si.Started == nil:
		s.Primary = StatusNeedsConfig
	case desired == DesiredRunning && (si.Started == nil || anyHealth(si.Health, HealthStarting, HealthWaiting)):
		s.Primary = StatusStarting
	case desired == DesiredStopped && si.Started != nil:
		s.Primary = StatusStopping
	default:
		s.Primary = desired
	}
	return s
}

// AggregateHealth is any failure, else any starting, else any loading, else
// success; "" when there are no checks.
func AggregateHealth(h map[string]HealthCheckResult) string {
	if len(h) == 0 {
		return ""
	}
	for _, r := range []string{HealthFailure, HealthStarting, HealthLoading} {
		if anyHealth(h, r) {
			return r
		}
	}
	return HealthSuccess
}

func anyHealth(h map[string]HealthCheckResult, results ...string) bool {
	for _, r := range h {
		if slices.Contains(results, r.Result) {
			return true
		}
	}
	return false
}

// PackageSummary is one row of package.list.
type PackageSummary struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Version string `json:"version"`
	// State is the lifecycle state (installing, updating, restoring,
	// installed, removing): "status" in StartOS's package.list.
	State string `json:"status"`
	DisplayStatus
}

// PackageIDParams names a package.
type PackageIDParams struct {
	ID string `json:"id"`
}

// PackageInfo is the result of package.info: the document's entry with the
// manifest decoded, the dependencies' states and the interfaces' addresses.
type PackageInfo struct {
	PackageSummary
	Health       map[string]HealthCheckResult `json:"healthChecks"`
	Error        *ErrorData                   `json:"error,omitempty"`
	Dependencies map[string]DependencyStatus  `json:"dependencies"`
	Interfaces   []InterfaceAddress           `json:"interfaces"`
	Actions      []ActionSummary              `json:"actions"`
}

// InterfaceAddress is where one interface of a package answers on the box.
type InterfaceAddress struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	UI        bool     `json:"ui"`
	Addresses []string `json:"addresses"`
}

// ActionSummary names one action a package offers.
type ActionSummary struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	Description     string   `json:"description"`
	AllowedStatuses []string `json:"allowedStatuses"`
}

// ActionInputParams is the params of package.action.get-input.
type ActionInputParams struct {
	PackageID string `json:"packageId"`
	ActionID  string `json:"actionId"`
	// Prefill is answered back as the input's value: the defaults the form
	// starts with. Its keys must be in the action's input spec.
	Prefill map[string]any `json:"prefill,omitempty"`
}
