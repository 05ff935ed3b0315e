package service

import (
	"fmt"
	"sort"
	"strings"

	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// currentDependencies is what a package declares it relies on, for
// packageData.<id>.currentDependencies.
func currentDependencies(mf *manifest.Manifest) map[string]model.CurrentDependency {
	out := map[string]model.CurrentDependency{}
	for id, d := range mf.Dependencies {
		if d == nil {
			continue
		}
		kind := "exists"
		if d.Requirement.Type == "required" {
			kind = "running"
		}
		out[id] = model.CurrentDependency{VersionRange: d.Version.String(), Kind: kind}
	}
	return out
}

// Dependencies returns the state of each dependency package id declares.
func (m *Manager) Dependencies(id string) (map[string]model.DependencyStatus, error) {
	view := m.store.View()
	e, ok := view.Package(id)
	if !ok {
		return nil, fmt.Errorf("package %q is not installed: %w", id, errdefs.ErrNotFound)
	}
	mf, err := parseManifest(id, e.StateInfo.Manifest)
	if err != nil {
		return nil, err
	}
	return dependencyStates(view, mf), nil
}

// dependencyStates judges each declared dependency against the document.
func dependencyStates(view db.View, mf *manifest.Manifest) map[string]model.DependencyStatus {
	out := map[string]model.DependencyStatus{}
	self, _ := view.Package(mf.ID)
	for depID, d := range mf.Dependencies {
		if d == nil {
			continue
		}
		s := model.DependencyStatus{Required: d.Requirement.Type == "required"}
		e, ok := view.Package(depID)
		var dm *manifest.Manifest
		if ok && e.StateInfo.State == model.PackageInstalled {
			dm, _ = parseManifest(depID, e.StateInfo.Manifest)
		}
		switch {
		case dm == nil:
			s.Kind, s.Message = model.DependencyNotInstalled, depID+" is not installed"
		case !d.Version.IsZero() && !d.Version.Satisfies(dm.Version):
			s.Kind, s.Expected, s.Received = model.DependencyIncorrectVersion, d.Version.String(), dm.Version.String()
			s.Message = fmt.Sprintf("%s %s is installed; %s is needed", depID, dm.Version, d.Version)
		case self.StatusInfo.DependencyConfigErrors[depID] != "":
			s.Kind = model.DependencyConfigUnsatisfied
			s.Message = fmt.Sprintf("%s's config fails %s's check: %s", depID, mf.ID, self.StatusInfo.DependencyConfigErrors[depID])
		case e.StatusInfo.Started == nil:
			s.Kind, s.Message = model.DependencyNotRunning, depID+" is not running"
		default:
			s.Kind = model.DependencySatisfied
			ids := make([]string, 0, len(e.StatusInfo.Health))
			for hid := range e.StatusInfo.Health {
				ids = append(ids, hid)
			}
			sort.Strings(ids)
			for _, hid := range ids {
				if h := e.StatusInfo.Health[hid]; h.Result == model.HealthFailure {
					s.Kind, s.Check = model.DependencyHealthChecksFailed, hid
					s.Message = fmt.Sprintf("%s's health check %q fails: %s", depID, h.Name, h.Message)
					break
				}
			}
		}
		out[depID] = s
	}
	return out
}

// checkRequired refuses, naming each reason, when a required dependency is
// not satisfied.
func (m *Manager) checkRequired(mf *manifest.Manifest) error {
	var why []string
	states := dependencyStates(m.store.View(), mf)
	for _, id := range sortedKeys(states) {
		if s := states[id]; s.Required && s.Kind != model.DependencySatisfied {
			why = append(why, s.Message)
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("required dependencies are not satisfied: %s: %w", strings.Join(why, "; "), errdefs.ErrDependency)
	}
	return nil
}
