package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/startos-go/startos/internal/atomicfile"
	"github.com/startos-go/startos/internal/retry"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// LabelBox marks every container and network this box creates with its
// serverInfo.id. The sweeper only ever removes objects carrying this box's
// id (or, for uninstall, the package's label without another box's id), so
// nothing made by another tool, or by another startd sharing the engine, is
// touched.
const LabelBox = "dev.startos.box"

// Leftover kinds.
const (
	LeftoverContainer = "container"
	LeftoverNetwork   = "network"
	LeftoverImage     = "image"
)

// Leftover is an engine object that belongs to no installed package (or is
// not its package's current container) and that the engine refused to
// remove. The sweeper retries it; server.diagnose lists it.
type Leftover struct {
	Kind    string `json:"kind"`
	Ref     string `json:"ref"` // container or network id, image tag
	Name    string `json:"name,omitempty"`
	Package string `json:"package"`
	Error   string `json:"error"`
	// FirstFailed is when removing it first failed; Boot is the daemon run
	// (a random id per start) in which it did.
	FirstFailed time.Time `json:"firstFailed"`
	LastTried   time.Time `json:"lastTried"`
	Boot        string    `json:"boot"`
	// Notified: the owner was told (once) that it survived a restart.
	Notified bool `json:"notified,omitempty"`
}

func (l Leftover) key() string { return l.Kind + " " + l.Ref }

// LeftoverError is a removal the engine answered but refused (such as
// overlay2's "device or resource busy" after an engine restart): the
// objects are recorded for the sweeper, which keeps trying.
type LeftoverError struct {
	Package string
	Objects []string // "container startos.x (id)", ...
	Err     error
}

func (e *LeftoverError) Error() string {
	return fmt.Sprintf("the container engine could not remove %s of package %s (startd keeps trying; see server.diagnose): %v",
		strings.Join(e.Objects, ", "), e.Package, e.Err)
}

func (e *LeftoverError) Unwrap() error { return e.Err }

// EngineLeftover lists the objects left (the installer recognizes the error
// by this method).
func (e *LeftoverError) EngineLeftover() []string { return e.Objects }

// sweeper is the Manager's background removal of orphaned engine objects.
type sweeper struct {
	kickc   chan struct{}
	running chan struct{} // holds a token while a sweep runs
	path    string        // the persisted leftovers
	boot    string
	// leftovers, pending and inflight are guarded by Manager.mu.
	leftovers map[string]Leftover
	pending   []Leftover          // recorded by Release, not yet persisted
	inflight  map[string]struct{} // names of procedure containers running now
}

func newSweeper(dataDir string) *sweeper {
	b := make([]byte, 8)
	rand.Read(b)
	s := &sweeper{
		kickc: make(chan struct{}, 1), running: make(chan struct{}, 1), path: filepath.Join(dataDir, "engine-leftovers.json"),
		boot: hex.EncodeToString(b), leftovers: map[string]Leftover{}, inflight: map[string]struct{}{},
	}
	return s
}

// load reads the leftovers a previous run recorded.
func (s *sweeper) load() error {
	b, err := os.ReadFile(s.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var list []Leftover
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	for _, l := range list {
		s.leftovers[l.key()] = l
	}
	return nil
}

// kickSweep asks for a sweep soon; it never blocks.
func (m *Manager) kickSweep() {
	select {
	case m.sweep.kickc <- struct{}{}:
	default:
	}
}

// Leftovers lists what the sweeper could not remove, oldest first.
func (m *Manager) Leftovers() []Leftover {
	m.mu.Lock()
	out := make([]Leftover, 0, len(m.sweep.leftovers)+len(m.sweep.pending))
	for _, l := range m.sweep.leftovers {
		out = append(out, l)
	}
	out = append(out, m.sweep.pending...)
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].FirstFailed.Before(out[j].FirstFailed) })
	return out
}

// record notes objects that could not be removed, for the sweeper.
func (m *Manager) record(ls ...Leftover) {
	now := time.Now().UTC()
	for i := range ls {
		ls[i].FirstFailed, ls[i].LastTried, ls[i].Boot = now, now, m.sweep.boot
	}
	m.mu.Lock()
	m.sweep.pending = append(m.sweep.pending, ls...)
	m.mu.Unlock()
	m.kickSweep()
}

// RecordLeftover notes an engine object of package pkg that could not be
// removed (the installer's image removals), for the sweeper.
func (m *Manager) RecordLeftover(kind, ref, pkg string, err error) {
	m.record(Leftover{Kind: kind, Ref: ref, Package: pkg, Error: err.Error()})
}

// procStarted and procEnded bracket a procedure container, so the sweeper
// never removes one that is running for this daemon.
func (m *Manager) procStarted(name string) {
	m.mu.Lock()
	m.sweep.inflight[name] = struct{}{}
	m.mu.Unlock()
}

func (m *Manager) procEnded(name string) {
	m.mu.Lock()
	delete(m.sweep.inflight, name)
	m.mu.Unlock()
}

// sweepLoop sweeps at start, when kicked (an engine that came back, a
// recorded leftover) and every SweepInterval; while the engine is down or
// leftovers remain it retries with a backoff from 5 s up to the interval.
func (m *Manager) sweepLoop(ctx context.Context) {
	backoff := retry.Backoff{First: 5 * time.Second, Max: m.opts.SweepInterval}
	checked := false // the engine's live-restore setting, once
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.sweep.kickc:
		case <-timer.C:
		}
		next := m.opts.SweepInterval
		_, err := m.Sweep(ctx)
		if err == nil && !checked {
			checked = true
			if cfg, cerr := m.engine.Config(ctx); cerr == nil && !cfg.LiveRestore {
				m.log.Warn("the container engine runs without live-restore: restarting or upgrading it stops every service (see docs/startd.md)")
			}
		}
		if err != nil || len(m.Leftovers()) > 0 {
			if ctx.Err() != nil {
				return
			}
			next = backoff.Next()
			if err != nil {
				m.log.Debug("sweep failed; retrying", "error", err, "retry_in", next)
			}
		} else {
			backoff.Reset()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// SweepReport is what one sweep did.
type SweepReport struct {
	Removed   []string   `json:"removed"`   // "container startos.x (id)", ...
	Leftovers []Leftover `json:"leftovers"` // what the engine refused to remove
}

// Sweep removes, once, the engine objects of this box that belong to no
// installed package: containers and networks labelled with this box's id
// whose package has no entry, containers of an installed package that are
// not its current main container (procedure containers this daemon is not
// running), and the images of removed packages. What the engine refuses to
// remove is kept as a leftover and retried; one that survives a restart is
// reported once in a notification. It returns an error only when the engine
// could not be asked.
func (m *Manager) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	if m.box == "" {
		return rep, nil
	}
	// One sweep at a time (the loop and a caller).
	select {
	case m.sweep.running <- struct{}{}:
		defer func() { <-m.sweep.running }()
	case <-ctx.Done():
		return rep, ctx.Err()
	}
	// List before reading the document: an object listed now was made
	// before the read, so a package missing from the document then is gone.
	conts, err := m.engine.ListContainers(ctx, LabelBox+"="+m.box)
	if err != nil {
		return rep, err
	}
	nets, err := m.engine.ListNetworks(ctx, LabelBox+"="+m.box)
	if err != nil {
		return rep, err
	}
	_, doc := m.store.Read()
	m.mu.Lock()
	inflight := make(map[string]struct{}, len(m.sweep.inflight))
	for k := range m.sweep.inflight {
		inflight[k] = struct{}{}
	}
	known := m.sweep.leftovers
	m.sweep.leftovers = map[string]Leftover{}
	for _, l := range m.sweep.pending {
		if old, ok := known[l.key()]; ok {
			l = old
		}
		known[l.key()] = l
	}
	m.sweep.pending = nil
	m.mu.Unlock()

	present := func(pkg string) (model.PackageDataEntry, bool) {
		e, ok := doc.Public.PackageData[pkg]
		return e, ok
	}
	now := time.Now().UTC()
	failed := map[string]Leftover{}
	fail := func(l Leftover, err error) {
		if old, ok := known[l.key()]; ok {
			l.FirstFailed, l.Boot, l.Notified = old.FirstFailed, old.Boot, old.Notified
		} else {
			l.FirstFailed, l.Boot = now, m.sweep.boot
		}
		l.Error, l.LastTried = err.Error(), now
		failed[l.key()] = l
	}
	seen := map[string]bool{}
	images := map[string]string{} // tag -> package

	for _, c := range conts {
		pkg := c.Labels[LabelPackage]
		seen[LeftoverContainer+" "+c.ID] = true
		if pkg == "" {
			continue
		}
		e, installed := present(pkg)
		switch {
		case c.Labels[LabelProcedure] == "true":
			if _, running := inflight[c.Name]; running {
				continue
			}
		case !installed:
			if c.Image != "" && strings.HasPrefix(c.Image, "start9/"+pkg+"/") {
				images[c.Image] = pkg
			}
		case c.Name == ContainerName(pkg):
			continue // the current main container (the actor owns it)
		case e.StateInfo.State != model.PackageInstalled:
			continue // an install, update or removal is under way
		}
		l := Leftover{Kind: LeftoverContainer, Ref: c.ID, Name: c.Name, Package: pkg}
		if err := m.engine.RemoveContainer(ctx, c.ID, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			fail(l, err)
			continue
		}
		rep.Removed = append(rep.Removed, "container "+c.Name)
	}
	for _, n := range nets {
		// Networks go by name: ours are unique by name, and Release knows
		// only the name.
		pkg := n.Labels[LabelPackage]
		seen[LeftoverNetwork+" "+n.Name] = true
		if _, installed := present(pkg); pkg == "" || installed {
			continue
		}
		l := Leftover{Kind: LeftoverNetwork, Ref: n.Name, Package: pkg}
		if err := m.engine.RemoveNetwork(ctx, n.Name); err != nil {
			fail(l, err)
			continue
		}
		rep.Removed = append(rep.Removed, "network "+n.Name)
	}
	// Recorded objects the listings did not show: gone, or (from before the
	// box label) to retry by id.
	for _, l := range known {
		if seen[l.key()] {
			continue
		}
		if _, installed := present(l.Package); installed {
			continue // in use again (a reinstall): not a leftover any more
		}
		var err error
		switch l.Kind {
		case LeftoverContainer:
			err = m.engine.RemoveContainer(ctx, l.Ref, true)
		case LeftoverNetwork:
			err = m.engine.RemoveNetwork(ctx, l.Ref)
		case LeftoverImage:
			images[l.Ref] = l.Package
			continue
		}
		if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			fail(l, err)
			continue
		}
		if err == nil {
			rep.Removed = append(rep.Removed, l.Kind+" "+l.Ref)
		}
	}
	for _, tag := range sortedKeys(images) {
		pkg := images[tag]
		if _, installed := present(pkg); installed {
			continue
		}
		err := m.engine.Remove(ctx, tag, true)
		if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			fail(Leftover{Kind: LeftoverImage, Ref: tag, Package: pkg}, err)
			continue
		}
		if err == nil {
			rep.Removed = append(rep.Removed, "image "+tag)
		}
	}

	// Tell the owner, once, of what survived a restart.
	var survivors []string
	for k, l := range failed {
		if l.Boot != m.sweep.boot && !l.Notified {
			survivors = append(survivors, fmt.Sprintf("%s %s of %s: %s", l.Kind, firstNonEmpty(l.Name, l.Ref), l.Package, l.Error))
			l.Notified = true
			failed[k] = l
		}
	}
	m.mu.Lock()
	for _, l := range failed {
		m.sweep.leftovers[l.key()] = l
	}
	persist := make([]Leftover, 0, len(m.sweep.leftovers))
	for _, l := range m.sweep.leftovers {
		persist = append(persist, l)
	}
	m.mu.Unlock()
	sort.Slice(persist, func(i, j int) bool { return persist[i].key() < persist[j].key() })
	rep.Leftovers = persist
	if len(rep.Removed) > 0 {
		m.log.Info("swept engine objects no package owns", "removed", strings.Join(rep.Removed, ", "))
	}
	for _, l := range failed {
		m.log.Warn("the engine could not remove an object no package owns; retrying later", "kind", l.Kind, "ref", l.Ref, "package", l.Package, "error", l.Error)
	}
	if err := m.saveLeftovers(persist); err != nil {
		m.log.Warn("recording the engine's leftovers", "path", m.sweep.path, "error", err)
	}
	if len(survivors) > 0 && m.opts.Notify != nil {
		sort.Strings(survivors)
		m.opts.Notify(ctx, model.NotificationInput{
			Level: model.NotificationWarning, Title: "Engine Leftovers",
			Message: "The container engine could not remove objects of removed packages, across a restart of startd. " +
				"startd keeps trying; restarting the engine (or the box) usually frees them.\n" + strings.Join(survivors, "\n"),
		})
	}
	return rep, nil
}

// saveLeftovers writes the leftovers file; only the sweeper writes it.
func (m *Manager) saveLeftovers(list []Leftover) error {
	if len(list) == 0 {
		if err := os.Remove(m.sweep.path); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(m.sweep.path, b, 0o600)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// removePackageObjects removes every container labelled for package id
// (its main container and any procedure container, as a crash may leave),
// except another box's, then its network. What the engine refuses is
// recorded for the sweeper and returned as a *LeftoverError; an engine that
// does not answer is returned as it is.
func (m *Manager) removePackageObjects(ctx context.Context, id string, timeout time.Duration) error {
	if err := m.removeContainer(ctx, id, timeout); err != nil {
		if errors.Is(err, errdefs.ErrUnavailable) || errors.Is(err, errdefs.ErrTimeout) || ctx.Err() != nil {
			return err
		}
		// Recorded below with the others.
		m.log.Warn("the main container could not be removed", "package", id, "error", err)
	}
	list, err := m.engine.ListContainers(ctx, LabelPackage+"="+id)
	if err != nil {
		return err
	}
	var objects []string
	var errs []error
	var left []Leftover
	for _, c := range list {
		if b := c.Labels[LabelBox]; b != "" && b != m.box {
			continue // another box's (a second startd on this engine)
		}
		err := m.engine.RemoveContainer(ctx, c.ID, true)
		if err == nil || errors.Is(err, errdefs.ErrNotFound) {
			continue
		}
		if errors.Is(err, errdefs.ErrUnavailable) || errors.Is(err, errdefs.ErrTimeout) {
			return err
		}
		objects = append(objects, fmt.Sprintf("container %s (%.12s)", c.Name, c.ID))
		errs = append(errs, err)
		left = append(left, Leftover{Kind: LeftoverContainer, Ref: c.ID, Name: c.Name, Package: id, Error: err.Error()})
	}
	if err := m.engine.RemoveNetwork(ctx, NetworkName(id)); err != nil {
		if errors.Is(err, errdefs.ErrUnavailable) || errors.Is(err, errdefs.ErrTimeout) {
			return err
		}
		objects = append(objects, "network "+NetworkName(id))
		errs = append(errs, err)
		left = append(left, Leftover{Kind: LeftoverNetwork, Ref: NetworkName(id), Package: id, Error: err.Error()})
	}
	if len(left) == 0 {
		return nil
	}
	m.record(left...)
	return &LeftoverError{Package: id, Objects: objects, Err: errors.Join(errs...)}
}
