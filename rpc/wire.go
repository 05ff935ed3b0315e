// Package rpc is the client and wire side of StartOS's one RPC surface: the
// method descriptions (Table, generated from rpc/server's table), the wire
// types and codes, and the Go client every frontend uses (Client, Replica,
// FileJar). The server, with the library call behind each method, is
// rpc/server; frontends import only this package.
package rpc

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/startos-go/startos/rpc/internal/jsonstream"
)

// JSON-RPC protocol codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// StartOS error kinds a client may react to.
const (
	CodeUnknown           = 1
	CodeFilesystem        = 2
	CodeDocker            = 3
	CodeConfigSpec        = 4 // StartOS's ConfigSpecViolation
	CodeNotFound          = 6
	CodeIncorrectPassword = 7
	CodeNetwork           = 9
	CodeRegistry          = 10
	CodeDependency        = 17
	CodeParseS9pk         = 18
	CodeValidateS9pk      = 24
	CodeInvalidSignature  = 31
	CodeBackup            = 32
	CodeRestore           = 33
	CodeUnauthorized      = 34
	CodeAction            = 36
	CodeRateLimited       = 37
	CodeInvalidRequestApp = 38
	CodeDuplicate         = 53
	CodeSMTP              = 78
	CodeTimeout           = 71
	CodeCancelled         = 73
	CodeInstallFailed     = 76
	CodeUpdateFailed      = 77
	CodeUnavailable       = 79
)

// Error is the error object of a response: StartOS's envelope, with a
// human-readable message in data.details and structured data in data.info.
type Error struct {
	Code    int        `json:"code"`
	Message string     `json:"message"`
	Data    *ErrorData `json:"data,omitempty"`
}

// ErrorData is error.data.
type ErrorData struct {
	Details string `json:"details"`
	Debug   string `json:"debug,omitempty"`
	Info    any    `json:"info,omitempty"`
}

func (e *Error) Error() string {
	if e.Data != nil && e.Data.Details != "" && e.Data.Details != e.Message {
		return fmt.Sprintf("%d: %s: %s", e.Code, e.Message, e.Data.Details)
	}
	return fmt.Sprintf("%d: %s", e.Code, e.Message)
}

// NewError is an error with a human-readable details string.
func NewError(code int, message, details string) *Error {
	return &Error{Code: code, Message: message, Data: &ErrorData{Details: details}}
}

// Limits and names of the transports.
const (
	// MaxBodyBytes is the largest request body or stream message accepted.
	MaxBodyBytes = 1 << 20
	// MaxBatch is the most requests one batch may hold.
	MaxBatch = 100
	// MaxReplyBytes bounds one message a client accepts from the daemon.
	MaxReplyBytes = 64 << 20
	// WriteTimeout bounds every write to a stream peer. A peer that does
	// not take a message within it is disconnected, so a wedged client
	// never holds anything else up.
	WriteTimeout = jsonstream.WriteTimeout
	// PatchSequenceHeader carries the state revision after a mutating call.
	PatchSequenceHeader = "X-Patch-Sequence"
	// APIVersion is the version of this RPC surface.
	APIVersion = "0.1.0"
)

// Cookie names, as StartOS uses them.
const (
	SessionCookie = "session"
	LocalCookie   = "local" // value: the contents of <run-dir>/rpc.authcookie
)

// SessionCookieMaxAge is the session cookie's lifetime in the browser.
const SessionCookieMaxAge = 30 * 24 * time.Hour

// WireResponse is the StartOS envelope of one response.
type WireResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// UnsubscribeParams names the subscription to end.
type UnsubscribeParams struct {
	Subscription string `json:"subscription"`
}

// StreamResult is what a streaming method answers: the subscription id that
// its notifications carry, and the initial value.
type StreamResult[R any] struct {
	Subscription string `json:"subscription"`
	Value        R      `json:"value"`
}

// StreamNotification is the params of every notification a subscription sends.
type StreamNotification[N any] struct {
	Subscription string `json:"subscription"`
	Value        N      `json:"value"`
}

// EndNotification is the method of the last notification of a subscription.
const EndNotification = "rpc.end"

// EndParams says why a subscription ended. Reason is "fell behind" when the
// subscriber did not keep up (resubscribe to start again from a fresh value),
// "closed" when the source went away, "unsubscribed" after rpc.unsubscribe.
type EndParams struct {
	Subscription string `json:"subscription"`
	Reason       string `json:"reason"`
	Error        *Error `json:"error,omitempty"`
}

// ResponseMeta is the metadata a stream transport's response carries.
type ResponseMeta struct {
	Revision uint64 `json:"revision,omitempty"`
}
