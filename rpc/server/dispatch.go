package server

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/caller"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// Peer describes who is on the other end of a call.
type Peer struct {
	Transport  string // "http", "websocket" or "unix"
	RemoteAddr string
	// Local is true when the caller is the local administrator: a unix socket
	// peer that is root or the daemon's own user.
	Local bool
	UID   int // the peer's uid on the unix socket, -1 elsewhere
}

type peerKey struct{}

// PeerFrom returns the caller of the request whose context this is.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

func withPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// outcome is what one call produced.
type outcome struct {
	result   any
	stream   subscription
	method   *Method
	revision uint64 // set after a successful mutating call
	err      *rpc.Error
}

// dispatcher runs table methods against the library; every transport uses it.
type dispatcher struct {
	lib     *startos.Server
	methods methodSet
	log     hclog.Logger
}

// dispatch decodes params, runs the method and maps its error, recovering a
// panic into an internal error so one bad call never takes the daemon down.
func (d *dispatcher) dispatch(ctx context.Context, req *request) (out outcome) {
	begun := time.Now()
	defer func() {
		// Only table names become labels: a stranger's method names must
		// not grow the metrics without bound.
		name, code := "unknown", 0
		if out.method != nil {
			name = out.method.Name
		}
		if out.err != nil {
			code = out.err.Code
		}
		d.lib.ObserveCall(name, code, time.Since(begun))
	}()
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("panic in method", "method", req.Method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			out = outcome{err: rpc.NewError(rpc.CodeInternalError, "Internal Error", "internal error while handling "+req.Method)}
		}
	}()
	if d.log.IsDebug() {
		d.log.Debug("call", "method", req.Method)
	}
	m, ok := d.methods[req.Method]
	if !ok {
		return outcome{err: rpc.NewError(rpc.CodeMethodNotFound, "Method Not Found", fmt.Sprintf("method %q not found", req.Method))}
	}
	// Authentication comes before params, so a stranger learns nothing
	// about a method but that it exists.
	if !m.Public && !caller.From(ctx).Authenticated() {
		return outcome{method: m, err: toError(errUnauthenticated)}
	}
	if m.Streaming() && req.noStreams {
		return outcome{method: m, err: toError(errStreamOnly)}
	}
	params, perr := decodeParams(m, req.Params)
	if perr != nil {
		return outcome{method: m, err: perr}
	}
	result, stream, err := m.call(ctx, d.lib, params)
	if err != nil {
		return outcome{method: m, err: toError(err)}
	}
	if _, empty := result.(model.Empty); empty {
		// StartOS answers null where there is nothing to say ("()" in Rust).
		result = nil
	}
	out = outcome{result: result, stream: stream, method: m}
	if m.Mutates {
		out.revision = d.lib.Revision()
	}
	return out
}

var errUnauthenticated = fmt.Errorf("authentication required: log in with auth.login, or use the local socket: %w", errdefs.ErrUnauthorized)

// emptyType is the result of methods that answer null.
var emptyType = reflect.TypeFor[model.Empty]()

func marshalResult(v any) (json.RawMessage, *rpc.Error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, rpc.NewError(rpc.CodeInternalError, "Internal Error", "encode result: "+err.Error())
	}
	return b, nil
}
