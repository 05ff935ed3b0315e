package startos

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/pkgdoc"
)

// pkgWire keeps each package's StartOS 0.4 fields (actions,
// serviceInterfaces, hosts) derived from its manifest and LAN addresses,
// whoever changed those: install, update, the LAN reconcile, a hostname
// change. It follows the document and writes only what differs.
type pkgWire struct {
	cancel context.CancelFunc
	done   chan struct{}
	// seen caches, per package, the inputs last derived from, so an
	// unrelated revision costs a comparison, not a manifest parse.
	seen map[string]string
}

// startPkgWire derives once (so an existing database is complete when Open
// returns) and then follows the document until closePkgWire.
func (s *Server) startPkgWire(ctx context.Context) error {
	w := &pkgWire{done: make(chan struct{}), seen: map[string]string{}}
	_, f, err := s.db.Subscribe("/public", 0)
	if err != nil {
		return err
	}
	s.pkgDerive(ctx, w)
	loopCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	s.pkgwire = w
	go func() {
		defer close(w.done)
		defer func() { f.Close() }()
		for {
			rev, err := f.Recv(loopCtx)
			if err != nil {
				if loopCtx.Err() != nil {
					return
				}
				f.Close() // dropped for falling behind: follow again
				if _, f, err = s.db.Subscribe("/public", 0); err != nil {
					s.log.Error("package fields: cannot follow the document", "error", err)
					return
				}
				s.pkgDerive(loopCtx, w) // what was missed is unknown
				continue
			}
			touched := touchesDerivedInputs(rev.Patch)
			for f.Len() > 0 { // one pass for a burst of revisions
				rev, err := f.Recv(loopCtx)
				if err != nil {
					break
				}
				touched = touched || touchesDerivedInputs(rev.Patch)
			}
			// Health results and progress are most revisions: they change
			// no input, so they cost a look at their paths, not a pass.
			if touched {
				s.pkgDerive(loopCtx, w)
			}
		}
	}()
	return nil
}

// touchesDerivedInputs reports whether a patch of /public may change what
// the fields are derived from: the hostname, or a package's manifest
// (stateInfo), its interface addresses, or the package itself.
func touchesDerivedInputs(p model.Patch) bool {
	for _, op := range p {
		if derivedInput(op.Path) || (op.From != "" && derivedInput(op.From)) {
			return true
		}
	}
	return false
}

func derivedInput(path string) bool {
	switch {
	case path == "" || path == "/packageData" || path == "/serverInfo" || path == "/serverInfo/hostname":
		return true
	case strings.HasPrefix(path, "/packageData/"):
		rest := strings.TrimPrefix(path, "/packageData/")
		_, field, ok := strings.Cut(rest, "/")
		if !ok { // a whole entry
			return true
		}
		return field == "stateInfo" || strings.HasPrefix(field, "stateInfo/") ||
			field == "interfaceAddresses" || strings.HasPrefix(field, "interfaceAddresses/")
	}
	return false
}

func (s *Server) closePkgWire() {
	if w := s.pkgwire; w != nil {
		w.cancel()
		<-w.done
		s.pkgwire = nil
	}
}

// pkgDerive writes the derived fields of every package whose inputs
// changed since the last pass.
func (s *Server) pkgDerive(ctx context.Context, w *pkgWire) {
	view := s.db.View()
	hostname := view.ServerInfo().Hostname
	live := map[string]bool{}
	type job struct {
		id, key string
		d       pkgdoc.Derived
		write   bool
	}
	var jobs []job
	// Read without copying: only the changed entries are derived.
	view.EachPackage(func(id string, e *model.PackageDataEntry) bool {
		live[id] = true
		key := hostname + "\x00" + string(e.StateInfo.Manifest) + "\x00" + jsonString(e.InterfaceAddresses)
		if w.seen[id] == key {
			return true
		}
		mf := entryManifest(e)
		if mf == nil { // installing: no manifest of its own yet
			return true
		}
		d := pkgdoc.Derive(mf, hostname, e.InterfaceAddresses)
		jobs = append(jobs, job{id: id, key: key, d: d, write: d.Differs(e)})
		return true
	})
	for _, j := range jobs {
		if j.write {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := s.db.MutatePackage(wctx, j.id, func(e *model.PackageDataEntry) error {
				j.d.Apply(e)
				return nil
			})
			cancel()
			if err != nil {
				if !errors.Is(err, db.ErrNoPackage) && ctx.Err() == nil {
					s.log.Warn("package fields not recorded", "package", j.id, "error", err)
				}
				continue
			}
		}
		w.seen[j.id] = j.key
	}
	for id := range w.seen {
		if !live[id] {
			delete(w.seen, id)
		}
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
