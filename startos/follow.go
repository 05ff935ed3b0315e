package startos

import (
	"context"
	"strings"

	"github.com/startos-go/startos/startos/model"
)

// A follower keeps something derived from the document in step with it:
// it runs its pass once, then again after each burst of revisions of
// /public that touches one of its inputs, until stop. Most revisions are
// health results and progress, which touch no input: they cost a look at
// their paths, not a pass.
type follower struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// follow runs pass now, on the caller's goroutine (so what it derives is in
// place when follow returns), and then on its own goroutine whenever a
// revision changes a path for which input is true, or after the follower
// fell behind and missed revisions. Passes never overlap.
func (s *Server) follow(what string, input func(path string) bool, pass func(ctx context.Context)) (*follower, error) {
	_, f, err := s.db.Subscribe("/public", 0)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	fl := &follower{cancel: cancel, done: make(chan struct{})}
	pass(ctx)
	go func() {
		defer close(fl.done)
		defer func() { f.Close() }()
		for {
			rev, err := f.Recv(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				f.Close() // dropped for falling behind: follow again
				if _, f, err = s.db.Subscribe("/public", 0); err != nil {
					s.log.Error(what+": cannot follow the document", "error", err)
					return
				}
				pass(ctx) // what was missed is unknown
				continue
			}
			touched := touches(rev.Patch, input)
			for f.Len() > 0 { // one pass for a burst of revisions
				rev, err := f.Recv(ctx)
				if err != nil {
					break
				}
				touched = touched || touches(rev.Patch, input)
			}
			if touched {
				pass(ctx)
			}
		}
	}()
	return fl, nil
}

// stop ends the follower and waits for its pass under way.
func (fl *follower) stop() {
	if fl != nil {
		fl.cancel()
		<-fl.done
	}
}

// touches reports whether p changes a path for which input is true.
func touches(p model.Patch, input func(path string) bool) bool {
	for _, op := range p {
		if input(op.Path) || (op.From != "" && input(op.From)) {
			return true
		}
	}
	return false
}

// packageInput is true for the paths of /public that the per-package
// derivations read: the hostname, and a package's manifest (stateInfo, but
// not an install's progress), its interface addresses, or the package
// itself.
func packageInput(path string) bool {
	switch {
	case path == "" || path == "/packageData" || path == "/serverInfo" || path == "/serverInfo/hostname":
		return true
	case strings.HasPrefix(path, "/packageData/"):
		rest := strings.TrimPrefix(path, "/packageData/")
		_, field, ok := strings.Cut(rest, "/")
		if !ok { // a whole entry
			return true
		}
		if underField(field, "stateInfo/installingInfo/progress") {
			return false // an install's progress, five times a second
		}
		return underField(field, "stateInfo") || underField(field, "interfaceAddresses")
	}
	return false
}

// lanInput is packageInput and the box's gateways, which name its LAN
// addresses.
func lanInput(path string) bool {
	return packageInput(path) || path == "/serverInfo/network" || underField(path, "/serverInfo/network/gateways")
}

// underField reports whether path is field or below it.
func underField(path, field string) bool {
	return path == field || strings.HasPrefix(path, field+"/")
}
