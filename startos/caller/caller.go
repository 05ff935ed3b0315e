// Package caller carries who is making a call from the transport, which
// authenticates it, to the library, which acts on it. Standard library only.
package caller

import "context"

// Caller is the authenticated identity of one call.
type Caller struct {
	// Local is the local administrator: a unix socket peer that is root or
	// the daemon's user, or an HTTP client holding the run directory's
	// auth cookie. It is never rate limited.
	Local bool
	// Session is the id (a hash of the token) of the session the call was
	// made under; empty when none.
	Session string
	// Addr is the client's address without port, for per-client limits.
	Addr      string
	UserAgent string
}

// Authenticated reports whether the call may use non-public methods.
func (c Caller) Authenticated() bool { return c.Local || c.Session != "" }

type key struct{}

// With returns ctx carrying c.
func With(ctx context.Context, c Caller) context.Context { return context.WithValue(ctx, key{}, c) }

// From returns the caller in ctx; the zero Caller (nobody) when there is none.
func From(ctx context.Context) Caller {
	c, _ := ctx.Value(key{}).(Caller)
	return c
}
