// Package errdefs holds the sentinel errors of the library. Core code wraps them
// with context (fmt.Errorf("package %q: %w", id, errdefs.ErrNotFound)); only the
// RPC edge turns them into wire codes, in one table.
package errdefs

import "errors"

// Each sentinel names a kind of failure a client may want to react to. The
// comment gives the StartOS error code the RPC edge maps it to.
var (
	ErrUnknown = errors.New("unknown error") // 1
	// ErrConfigSpecViolation is a config value that breaks its spec;
	// ErrInvalidConfigSpec a spec that is not one (both 4).
	ErrConfigSpecViolation = errors.New("config does not match its spec")
	ErrInvalidConfigSpec   = errors.New("invalid config spec")
	ErrFilesystem          = errors.New("filesystem error")     // 2
	ErrDocker              = errors.New("docker engine error")  // 3
	ErrNotFound            = errors.New("not found")            // 6
	ErrIncorrectPassword   = errors.New("password incorrect")   // 7
	ErrNetwork             = errors.New("network error")        // 9
	ErrRegistry            = errors.New("registry error")       // 10
	ErrDependency          = errors.New("dependency error")     // 17
	ErrParseS9pk           = errors.New("invalid package file") // 18
	ErrValidateS9pk        = errors.New("package failed validation")
	ErrInvalidSignature    = errors.New("invalid signature") // 31
	ErrBackup              = errors.New("backup failed")     // 32
	ErrRestore             = errors.New("restore failed")    // 33
	ErrUnauthorized        = errors.New("unauthorized")      // 34
	ErrAction              = errors.New("action failed")     // 36
	ErrRateLimited         = errors.New("too many attempts") // 37
	ErrInvalidRequest      = errors.New("invalid request")   // 38
	ErrDuplicate           = errors.New("already exists")    // 53
	ErrTimeout             = errors.New("timed out")         // 71
	ErrCancelled           = errors.New("cancelled")         // 73
	ErrInstallFailed       = errors.New("install failed")    // 76
	ErrUpdateFailed        = errors.New("update failed")     // 77
	ErrSMTP                = errors.New("smtp error")        // 78
	ErrUnavailable         = errors.New("temporarily unavailable")
)

// Info is an error that carries structured data for the client, such as how
// long to wait before retrying. The RPC edge puts it in error.data.info.
type Info interface {
	error
	ErrorInfo() any
}

type infoError struct {
	err  error
	info any
}

func (e *infoError) Error() string  { return e.err.Error() }
func (e *infoError) Unwrap() error  { return e.err }
func (e *infoError) ErrorInfo() any { return e.info }

// WithInfo attaches client-facing data to err without changing its message or
// what it wraps.
func WithInfo(err error, info any) error {
	if err == nil {
		return nil
	}
	return &infoError{err: err, info: info}
}
