package model

import (
	"encoding/json"
	"time"
)

// Setup states, as setup.status reports them.
const (
	SetupIncomplete = "incomplete" // no owner yet: setup.execute is open
	SetupComplete   = "complete"
)

// SetupStatus is the result of setup.status, in StartOS's shape: the
// fields beside status depend on it (see MarshalJSON).
type SetupStatus struct {
	Status string `json:"status"`
	// While incomplete: GUID names the data folder setup.execute sets up
	// (StartOS's data drive; here the box's id); Attach and MokEnrolled
	// are false (there is no drive to attach, no secure-boot key).
	GUID        *string `json:"guid,omitempty"`
	Attach      bool    `json:"attach,omitempty"`
	MokEnrolled bool    `json:"mokEnrolled,omitempty"`
	// Once complete: the hostname, the root CA (PEM) that signs the box's
	// LAN certificates, and needsRestart (always false: nothing to reboot).
	Hostname     string `json:"hostname,omitempty"`
	RootCA       string `json:"rootCa,omitempty"`
	NeedsRestart bool   `json:"needsRestart,omitempty"`
}

// SetupParams is the params of setup.execute. Password may come as StartOS's
// EncryptedWire {"encrypted": <JWE>} (see auth.get-pubkey); the daemon then
// decrypts PasswordEncrypted into Password.
type SetupParams struct {
	Password          string          `json:"password,omitempty"`
	PasswordEncrypted json.RawMessage `json:"-"`
	// GUID is StartOS's data drive; here it may only name this box's data
	// folder (setup.status's guid), or be left out.
	GUID string `json:"guid,omitempty"`
	// Kiosk asks StartOS to show its UI on an attached screen; startd has
	// none, so only false is accepted.
	Kiosk    bool   `json:"kiosk,omitempty"`
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
	// PasswordEncrypted is Password sent as StartOS's EncryptedWire.
	PasswordEncrypted json.RawMessage `json:"-"`
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
// Either may come as StartOS's EncryptedWire {"encrypted": <JWE>}; the
// daemon decrypts the *Encrypted fields into the plain ones.
type ResetPasswordParams struct {
	OldPassword          string          `json:"oldPassword"`
	NewPassword          string          `json:"newPassword"`
	OldPasswordEncrypted json.RawMessage `json:"-"`
	NewPasswordEncrypted json.RawMessage `json:"-"`
}

// JWK is a public key in RFC 7517 form: what auth.get-pubkey and
// setup.get-pubkey answer (kty "EC", crv "P-256").
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}
