package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
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

func newError(code int, message, details string) *Error {
	return &Error{Code: code, Message: message, Data: &ErrorData{Details: details}}
}

// The one table from library sentinels to codes; codes and messages are
// StartOS's ErrorKind numbers and English names (core/src/error.rs), but
// for 79, startd's own "Unavailable". The first match wins, so a more
// specific sentinel comes before a general one.
var codeTable = []struct {
	err     error
	code    int
	message string
}{
	{errdefs.ErrUnauthorized, CodeUnauthorized, "Unauthorized"},
	{errdefs.ErrIncorrectPassword, CodeIncorrectPassword, "Incorrect Password"},
	{errdefs.ErrRateLimited, CodeRateLimited, "Rate Limited"},
	{errdefs.ErrNotFound, CodeNotFound, "Not Found"},
	{errdefs.ErrDuplicate, CodeDuplicate, "Duplication Error"},
	{errdefs.ErrConfigSpecViolation, CodeConfigSpec, "Config Spec Violation"},
	{errdefs.ErrInvalidConfigSpec, CodeConfigSpec, "Config Spec Violation"},
	{errdefs.ErrInvalidRequest, CodeInvalidRequestApp, "Invalid Request"},
	{errdefs.ErrInvalidSignature, CodeInvalidSignature, "Invalid Signature"},
	{errdefs.ErrParseS9pk, CodeParseS9pk, "S9PK Parsing Error"},
	{errdefs.ErrValidateS9pk, CodeValidateS9pk, "S9PK Validation Error"},
	{errdefs.ErrInstallFailed, CodeInstallFailed, "Install Failed"},
	{errdefs.ErrUpdateFailed, CodeUpdateFailed, "Update Failed"},
	{errdefs.ErrDependency, CodeDependency, "Dependency Error"},
	{errdefs.ErrAction, CodeAction, "Action Failed"},
	{errdefs.ErrBackup, CodeBackup, "Backup Error"},
	{errdefs.ErrRestore, CodeRestore, "Restore Error"},
	{errdefs.ErrDocker, CodeDocker, "Docker Error"},
	{errdefs.ErrFilesystem, CodeFilesystem, "Filesystem I/O Error"},
	{errdefs.ErrNetwork, CodeNetwork, "Network Error"},
	{errdefs.ErrRegistry, CodeRegistry, "Registry Error"},
	{errdefs.ErrSMTP, CodeSMTP, "SMTP Error"},
	{errdefs.ErrUnavailable, CodeUnavailable, "Unavailable"},
	{errdefs.ErrTimeout, CodeTimeout, "Timeout Error"},
	{context.DeadlineExceeded, CodeTimeout, "Timeout Error"},
	{errdefs.ErrCancelled, CodeCancelled, "Cancelled"},
	{context.Canceled, CodeCancelled, "Cancelled"},
	{feed.ErrFellBehind, CodeCancelled, "Cancelled"},
}

// errStreamOnly is returned by methods that only make sense on a connection.
var errStreamOnly = errors.New("this method needs a stream transport (WebSocket /ws/rpc or the unix socket)")

// toError maps any error from the library to the wire, once.
func toError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, errStreamOnly) {
		return newError(CodeInvalidRequest, "Invalid Request", err.Error())
	}
	out := newError(CodeUnknown, "Unknown Error", err.Error())
	for _, row := range codeTable {
		if errors.Is(err, row.err) {
			out.Code, out.Message = row.code, row.message
			break
		}
	}
	var info errdefs.Info
	if errors.As(err, &info) {
		out.Data.Info = info.ErrorInfo()
	}
	return out
}
