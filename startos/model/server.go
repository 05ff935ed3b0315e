// Package model holds the types that cross the wire and live in the state
// document. It depends on the standard library only, so every client can use it.
//
// In params types, a field whose json tag carries omitempty is optional; every
// other field is required. The RPC layer and the generated API reference follow
// this one rule.
package model

import "time"

// Empty is the params or result of a method that takes or returns nothing.
type Empty struct{}

// EchoParams is the params of echo.
type EchoParams struct {
	Message string `json:"message"`
}

// ServerState is what state answers: which mode the daemon is in.
type ServerState string

// Server modes, as StartOS names them.
const (
	StateRunning      ServerState = "running"
	StateInitializing ServerState = "initializing"
	StateError        ServerState = "error"
)

// ServerTime is the result of server.time.
type ServerTime struct {
	Now    time.Time `json:"now"`
	Uptime uint64    `json:"uptime"` // whole seconds since the daemon started, as StartOS counts
}

// DeviceInfo is the result of server.device-info.
type DeviceInfo struct {
	OS       OSInfo       `json:"os"`
	Hardware HardwareInfo `json:"hardware"`
	Hostname string       `json:"hostname"`
}

// OSInfo describes the software.
type OSInfo struct {
	Version  string `json:"version"`
	Compat   string `json:"compat"`
	Platform string `json:"platform"`
}

// HardwareInfo describes the machine.
type HardwareInfo struct {
	Arch string `json:"arch"`
	RAM  uint64 `json:"ram"` // bytes
}

// CAInfo is the box's root CA: the certificate a device installs to trust
// the box's LAN addresses, and its SHA-256 fingerprint to compare.
type CAInfo struct {
	PEM         string `json:"pem"`
	Fingerprint string `json:"fingerprint"`
}
