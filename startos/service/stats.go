package service

import (
	"context"
	"errors"
	"sync"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// Stats samples every running package's memory and CPU (package.stats).
// Packages that are not running are left out.
func (m *Manager) Stats(ctx context.Context) (map[string]model.PackageStats, error) {
	var ids []string
	m.store.View().EachPackage(func(id string, e *model.PackageDataEntry) bool {
		if e.StateInfo.State == model.PackageInstalled && e.StatusInfo.Started != nil {
			ids = append(ids, id)
		}
		return true
	})
	out := map[string]model.PackageStats{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := m.engine.Stats(ctx, ContainerName(id))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, errdefs.ErrNotFound):
			case err != nil:
				errs = append(errs, err)
			default:
				out[id] = model.PackageStats{Memory: s.Memory, MemoryLimit: s.MemoryLimit, CPU: s.CPUPercent}
			}
		}()
	}
	wg.Wait()
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
