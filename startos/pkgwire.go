package startos

import (
	"context"
	"encoding/json"
	"errors"
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
	follower *follower
	// seen caches, per package, the inputs last derived from, so an
	// unrelated revision costs a comparison, not a manifest parse.
	seen map[string]string
}

// startPkgWire derives once (so an existing database is complete when Open
// returns) and then follows the document until closePkgWire.
func (s *Server) startPkgWire() error {
	w := &pkgWire{seen: map[string]string{}}
	fl, err := s.follow("package fields", packageInput, func(ctx context.Context) { s.pkgDerive(ctx, w) })
	if err != nil {
		return err
	}
	w.follower = fl
	s.pkgwire = w
	return nil
}

func (s *Server) closePkgWire() {
	if w := s.pkgwire; w != nil {
		w.follower.stop()
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
