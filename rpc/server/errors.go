package server

import (
	"context"
	"errors"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
)

// The one table from library sentinels to codes; codes and messages are
// StartOS's ErrorKind numbers and English names (core/src/error.rs), but
// for 79, startd's own "Unavailable". The first match wins, so a
// more specific sentinel comes before a general one.
var codeTable = []struct {
	err     error
	code    int
	message string
}{
	{errdefs.ErrUnauthorized, rpc.CodeUnauthorized, "Unauthorized"},
	{errdefs.ErrIncorrectPassword, rpc.CodeIncorrectPassword, "Incorrect Password"},
	{errdefs.ErrRateLimited, rpc.CodeRateLimited, "Rate Limited"},
	{errdefs.ErrNotFound, rpc.CodeNotFound, "Not Found"},
	{errdefs.ErrDuplicate, rpc.CodeDuplicate, "Duplication Error"},
	{errdefs.ErrConfigSpecViolation, rpc.CodeConfigSpec, "Config Spec Violation"},
	{errdefs.ErrInvalidConfigSpec, rpc.CodeConfigSpec, "Config Spec Violation"},
	{errdefs.ErrInvalidRequest, rpc.CodeInvalidRequestApp, "Invalid Request"},
	{errdefs.ErrInvalidSignature, rpc.CodeInvalidSignature, "Invalid Signature"},
	{errdefs.ErrParseS9pk, rpc.CodeParseS9pk, "S9PK Parsing Error"},
	{errdefs.ErrValidateS9pk, rpc.CodeValidateS9pk, "S9PK Validation Error"},
	{errdefs.ErrInstallFailed, rpc.CodeInstallFailed, "Install Failed"},
	{errdefs.ErrUpdateFailed, rpc.CodeUpdateFailed, "Update Failed"},
	{errdefs.ErrDependency, rpc.CodeDependency, "Dependency Error"},
	{errdefs.ErrAction, rpc.CodeAction, "Action Failed"},
	{errdefs.ErrBackup, rpc.CodeBackup, "Backup Error"},
	{errdefs.ErrRestore, rpc.CodeRestore, "Restore Error"},
	{errdefs.ErrDocker, rpc.CodeDocker, "Docker Error"},
	{errdefs.ErrFilesystem, rpc.CodeFilesystem, "Filesystem I/O Error"},
	{errdefs.ErrNetwork, rpc.CodeNetwork, "Network Error"},
	{errdefs.ErrRegistry, rpc.CodeRegistry, "Registry Error"},
	{errdefs.ErrSMTP, rpc.CodeSMTP, "SMTP Error"},
	{errdefs.ErrUnavailable, rpc.CodeUnavailable, "Unavailable"},
	{errdefs.ErrTimeout, rpc.CodeTimeout, "Timeout Error"},
	{context.DeadlineExceeded, rpc.CodeTimeout, "Timeout Error"},
	{errdefs.ErrCancelled, rpc.CodeCancelled, "Cancelled"},
	{context.Canceled, rpc.CodeCancelled, "Cancelled"},
	{feed.ErrFellBehind, rpc.CodeCancelled, "Cancelled"},
}

// errStreamOnly is returned by methods that only make sense on a connection.
var errStreamOnly = errors.New("this method needs a stream transport (WebSocket /ws/rpc or the unix socket)")

// toError maps any error from the library to the wire, once.
func toError(err error) *rpc.Error {
	if err == nil {
		return nil
	}
	var e *rpc.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, errStreamOnly) {
		return rpc.NewError(rpc.CodeInvalidRequest, "Invalid Request", err.Error())
	}
	out := rpc.NewError(rpc.CodeUnknown, "Unknown Error", err.Error())
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
