package container

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/startos-go/startos/startos/errdefs"
)

// EnsureNetwork creates a bridge network named name with labels, unless one
// of that name exists, and returns its id.
func (c *Client) EnsureNetwork(ctx context.Context, name string, labels map[string]string) (string, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	n, err := c.engine(ctx).NetworkInspect(ctx, name, network.InspectOptions{})
	if err == nil {
		return n.ID, nil
	}
	if strings.Contains(err.Error(), "is ambiguous") {
		// The engine lets two creates of one name race (API 1.41 checks
		// duplicates loosely), and every later use of the name then fails.
		return c.dedupeNetwork(ctx, name)
	}
	if werr := c.wrap("inspect network "+name, err); !errors.Is(werr, errdefs.ErrNotFound) {
		return "", werr
	}
	r, err := c.engine(ctx).NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: labels})
	if err != nil {
		return "", c.wrap("create network "+name, err)
	}
	return r.ID, nil
}

// dedupeNetwork keeps one of the networks named name (one with containers,
// else the oldest) and removes the others, which are empty.
func (c *Client) dedupeNetwork(ctx context.Context, name string) (string, error) {
	list, err := c.engine(ctx).NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", "^"+name+"$"))})
	if err != nil {
		return "", c.wrap("list networks named "+name, err)
	}
	var same []network.Summary
	for _, n := range list {
		if n.Name == name {
			same = append(same, n)
		}
	}
	if len(same) == 0 {
		return "", fmt.Errorf("network %s: the engine calls it ambiguous but lists none: %w", name, errdefs.ErrDocker)
	}
	sort.Slice(same, func(i, j int) bool {
		if (len(same[i].Containers) > 0) != (len(same[j].Containers) > 0) {
			return len(same[i].Containers) > 0
		}
		return same[i].Created.Before(same[j].Created)
	})
	for _, extra := range same[1:] {
		if len(extra.Containers) > 0 {
			continue
		}
		if err := c.engine(ctx).NetworkRemove(ctx, extra.ID); err != nil && !cerrdefs.IsNotFound(err) {
			return "", c.wrap("remove duplicate network "+name, err)
		}
	}
	return same[0].ID, nil
}

// NetworkExists reports whether a network named name exists.
func (c *Client) NetworkExists(ctx context.Context, name string) (bool, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	_, err := c.engine(ctx).NetworkInspect(ctx, name, network.InspectOptions{})
	if err == nil {
		return true, nil
	}
	if werr := c.wrap("inspect network "+name, err); !errors.Is(werr, errdefs.ErrNotFound) {
		return false, werr
	}
	return false, nil
}

// RemoveNetwork removes a network; one that does not exist is not an error.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if err := c.engine(ctx).NetworkRemove(ctx, name); err != nil {
		if werr := c.wrap("remove network "+name, err); !errors.Is(werr, errdefs.ErrNotFound) {
			return werr
		}
	}
	return nil
}

// NetworkState is what the engine lists of a network.
type NetworkState struct {
	ID         string
	Name       string
	Labels     map[string]string
	Containers int // attached endpoints (as the list call reports them)
}

// ListNetworks returns every network carrying label (key, or key=value).
func (c *Client) ListNetworks(ctx context.Context, label string) ([]NetworkState, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	list, err := c.engine(ctx).NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return nil, c.wrap("list networks "+label, err)
	}
	out := make([]NetworkState, 0, len(list))
	for _, n := range list {
		out = append(out, NetworkState{ID: n.ID, Name: n.Name, Labels: n.Labels, Containers: len(n.Containers)})
	}
	return out, nil
}
