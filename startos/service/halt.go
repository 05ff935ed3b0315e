package service

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// haltMargin is added to a package's sigterm-timeout for the engine call
// that stops it: the engine kills the process at the timeout, and then
// needs a moment to answer.
const haltMargin = 10 * time.Second

// Halt stops every running package one by one before the box powers off:
// dependents before their dependencies, each with its manifest's
// sigterm-timeout (the engine kills it after that). Each package's actor
// is stopped first so nothing starts it again, and its statusInfo.started
// and health are cleared once its container has stopped; desired is kept,
// so the packages come back at the next boot. Until Resume, no actor is
// started (package.start, installs and the engine's events only change
// the document). Halt returns the order it stopped them in; a package that
// would not stop is reported in the error, and the others are stopped
// anyway.
func (m *Manager) Halt(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("halt: service manager is closed: %w", errdefs.ErrUnavailable)
	}
	m.halted = true
	m.mu.Unlock()

	_, doc := m.store.Read()
	order := haltOrder(doc)
	var errs []error
	for _, id := range order {
		m.stopActor(id)
		if err := m.haltOne(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	return order, errors.Join(errs...)
}

// haltOne stops package id's main container and records that it stopped.
func (m *Manager) haltOne(ctx context.Context, id string) error {
	timeout := DefaultSigtermTimeout
	if _, mf, err := m.installedAny(id); err == nil {
		timeout = sigtermTimeout(&mf.Main)
	}
	name := ContainerName(id)
	callCtx, cancel := context.WithTimeout(ctx, timeout+haltMargin)
	defer cancel()
	st, err := m.engine.InspectContainer(callCtx, name)
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
	case err != nil:
		return err
	case st.Running:
		m.log.Info("halt: stopping", "package", id, "timeout", timeout)
		if err := m.engine.StopContainer(callCtx, name, timeout); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			m.log.Warn("halt: stop failed; killing", "package", id, "error", err)
			if kerr := m.engine.KillContainer(callCtx, name, ""); kerr != nil && !errors.Is(kerr, errdefs.ErrNotFound) {
				return errors.Join(err, kerr)
			}
		}
	}
	return m.mutateEntry(ctx, id, func(e *model.PackageDataEntry) {
		e.StatusInfo.Started = nil
		e.StatusInfo.Health = map[string]model.HealthCheckResult{}
	})
}

// Resume undoes Halt when the power command failed: one actor per
// installed package again, which drives it back to its desired state.
func (m *Manager) Resume() {
	m.mu.Lock()
	if m.closed || !m.halted {
		m.mu.Unlock()
		return
	}
	m.halted = false
	m.mu.Unlock()
	_, doc := m.store.Read()
	for id, e := range doc.Public.PackageData {
		if e.StateInfo.State == model.PackageInstalled {
			m.spawn(id)
		}
	}
}

// haltOrder lists the installed packages so that each comes before every
// package it depends on (a dependent stops while what it needs still runs).
// Ties, and the members of a dependency cycle, go in id order.
func haltOrder(doc *model.Document) []string {
	deps := map[string][]string{} // id -> installed packages it depends on
	for id, e := range doc.Public.PackageData {
		if e.StateInfo.State != model.PackageInstalled {
			continue
		}
		deps[id] = nil
		mf, err := parseManifest(id, e.StateInfo.Manifest)
		if err != nil {
			continue
		}
		for dep, d := range mf.Dependencies {
			if d != nil && dep != id {
				deps[id] = append(deps[id], dep)
			}
		}
	}
	dependents := map[string]int{} // id -> installed packages not yet stopped that depend on it
	for _, ds := range deps {
		for _, d := range ds {
			if _, ok := deps[d]; ok {
				dependents[d]++
			}
		}
	}
	remaining := make([]string, 0, len(deps))
	for id := range deps {
		remaining = append(remaining, id)
	}
	sort.Strings(remaining)
	order := make([]string, 0, len(deps))
	for len(remaining) > 0 {
		// The first package nothing still running depends on; in a cycle
		// there is none, and the first by id goes.
		pick := 0
		for i, id := range remaining {
			if dependents[id] == 0 {
				pick = i
				break
			}
		}
		id := remaining[pick]
		remaining = append(remaining[:pick], remaining[pick+1:]...)
		order = append(order, id)
		for _, d := range deps[id] {
			dependents[d]--
		}
	}
	return order
}
