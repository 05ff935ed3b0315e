package service

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

// Rebuild drops package id's container and images, reloads the images from
// its archive and recreates the container (package.rebuild). The actor then
// brings it back to its desired state.
func (m *Manager) Rebuild(ctx context.Context, id string) error {
	_, mf, err := m.installed(id)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	m.stopActor(id)
	defer m.spawn(id)
	if err := m.removeContainer(ctx, id, sigtermTimeout(&mf.Main)); err != nil {
		return fmt.Errorf("rebuild %q: %w", id, err)
	}
	if err := m.mutateEntry(ctx, id, func(e *model.PackageDataEntry) {
		e.StatusInfo.Started = nil
		e.StatusInfo.Health = map[string]model.HealthCheckResult{}
	}); err != nil {
		return fmt.Errorf("rebuild %q: %w", id, err)
	}
	for _, img := range mf.ImageIDs() {
		if err := m.engine.Remove(ctx, manifest.DockerTag(id, img, mf.Version), true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("rebuild %q: %w", id, err)
		}
	}
	if err := m.loadImages(ctx, mf); err != nil {
		return fmt.Errorf("rebuild %q: %w", id, err)
	}
	if _, err := m.ensureContainer(ctx, mf); err != nil {
		return fmt.Errorf("rebuild %q: %w", id, err)
	}
	return nil
}

// RebuildAll rebuilds every installed package (server.rebuild), one at a
// time; it goes on past failures and returns them all.
func (m *Manager) RebuildAll(ctx context.Context) error {
	_, doc := m.store.Read()
	var ids []string
	for id, e := range doc.Public.PackageData {
		if e.StateInfo.State == model.PackageInstalled {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var errs []error
	for _, id := range ids {
		if err := m.Rebuild(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
