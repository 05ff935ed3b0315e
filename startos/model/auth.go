package model

import "time"

// Setup states, as setup.status reports them.
const (
	SetupIncomplete = "incomplete" // no owner yet: setup.execute is open
	SetupComplete   = "complete"
)

// SetupStatus is the result of setup.status.
type SetupStatus struct {
	Status string `json:"status"`
}

// SetupParams is the params of setup.execute.
type SetupParams struct {
	Password string `json:"password"`
	Name     string `json:"name,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// SetupCode is the one-time code startd prints at start while the box
	// has no owner (also in <run-dir>/setup-code). Needed only from another
	// machine: the unix socket and loopback clients may set up without it.
	SetupCode string `json:"setupCode,omitempty"`
	// RecoverySource, with type "backup", turns this fresh box into a
	// backed-up one: owner password, name, hostname, notifications and the
	// packages with their data. Password is then unused.
	RecoverySource *RecoverySource `json:"recoverySource,omitempty"`
}

// RecoverySource is where setup.execute recovers a box from.
type RecoverySource struct {
	Type     string                `json:"type"` // "backup"
	Target   BackupTargetAddParams `json:"target"`
	Password string                `json:"password"` // the backup password
	// Snapshot is a run id; default the newest box backup.
	Snapshot string `json:"snapshot,omitempty"`
}

// LoginParams is the params of auth.login. An ephemeral session lives in
// memory only and ends when the daemon stops.
type LoginParams struct {
	Password  string `json:"password"`
	Ephemeral bool   `json:"ephemeral,omitempty"`
}

// LoginResult carries the new session's token on the unix socket only. Over
// HTTP the token is set as the HttpOnly session cookie and left out of the
// body, so page scripts never see it; over WebSocket it is left out too.
type LoginResult struct {
	Session   string `json:"session,omitempty"`
	Ephemeral bool   `json:"ephemeral,omitempty"`
}

// SessionInfo is one session as auth.session.list shows it.
type SessionInfo struct {
	LoggedIn   time.Time `json:"loggedIn"`
	LastActive time.Time `json:"lastActive"`
	UserAgent  string    `json:"userAgent,omitempty"`
	Ephemeral  bool      `json:"ephemeral,omitempty"`
}

// SessionList is the result of auth.session.list; Current is the caller's
// own session id, if the caller has one.
type SessionList struct {
	Current  string                 `json:"current,omitempty"`
	Sessions map[string]SessionInfo `json:"sessions"`
}

// SessionKillParams is the params of auth.session.kill.
type SessionKillParams struct {
	IDs []string `json:"ids"`
}

// ResetPasswordParams is the params of auth.reset-password.
type ResetPasswordParams struct {
	OldPassword string `json:"oldPassword"`
	NewPassword string `json:"newPassword"`
}
