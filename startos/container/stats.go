package container

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/docker/docker/api/types/container"

	"github.com/startos-go/startos/startos/errdefs"
)

// Stats is one sample of a container's resource use.
type Stats struct {
	Memory      uint64  // bytes in use, page cache excluded (as `docker stats`)
	MemoryLimit uint64  // bytes
	CPUPercent  float64 // of one CPU: 200 means two CPUs busy
}

// Stats samples a running container once. The engine takes two readings
// about a second apart so the CPU figure is a rate.
func (c *Client) Stats(ctx context.Context, id string) (Stats, error) {
	if err := c.ready(ctx); err != nil {
		return Stats{}, err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	r, err := c.api.ContainerStats(ctx, id, false)
	if err != nil {
		return Stats{}, c.wrap("stats of "+id, err)
	}
	defer r.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
		if ctx.Err() != nil {
			return Stats{}, c.wrap("stats of "+id, ctx.Err())
		}
		return Stats{}, fmt.Errorf("stats of %s: %v: %w", id, err, errdefs.ErrDocker)
	}
	return statsOf(&s), nil
}

func statsOf(s *container.StatsResponse) Stats {
	out := Stats{MemoryLimit: s.MemoryStats.Limit, Memory: s.MemoryStats.Usage}
	// cgroup v2 reports inactive_file, v1 total_inactive_file.
	cache, ok := s.MemoryStats.Stats["inactive_file"]
	if !ok {
		cache = s.MemoryStats.Stats["total_inactive_file"]
	}
	if cache < out.Memory {
		out.Memory -= cache
	}
	cpu := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sys := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	cpus := float64(s.CPUStats.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	if cpu > 0 && sys > 0 {
		out.CPUPercent = cpu / sys * cpus * 100
	}
	return out
}
