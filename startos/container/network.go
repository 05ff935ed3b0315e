package container

import (
	"context"
	"errors"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/startos-go/startos/startos/errdefs"
)

// EnsureNetwork creates a bridge network named name with labels, unless one
// of that name exists, and returns its id.
func (c *Client) EnsureNetwork(ctx context.Context, name string, labels map[string]string) (string, error) {
	if err := c.ready(ctx); err != nil {
		return "", err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	n, err := c.api.NetworkInspect(ctx, name, network.InspectOptions{})
	if err == nil {
		return n.ID, nil
	}
	if werr := c.wrap("inspect network "+name, err); !errors.Is(werr, errdefs.ErrNotFound) {
		return "", werr
	}
	r, err := c.api.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: labels})
	if err != nil {
		return "", c.wrap("create network "+name, err)
	}
	return r.ID, nil
}

// NetworkExists reports whether a network named name exists.
func (c *Client) NetworkExists(ctx context.Context, name string) (bool, error) {
	if err := c.ready(ctx); err != nil {
		return false, err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	_, err := c.api.NetworkInspect(ctx, name, network.InspectOptions{})
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
	if err := c.ready(ctx); err != nil {
		return err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if err := c.api.NetworkRemove(ctx, name); err != nil {
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
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	list, err := c.api.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return nil, c.wrap("list networks "+label, err)
	}
	out := make([]NetworkState, 0, len(list))
	for _, n := range list {
		out = append(out, NetworkState{ID: n.ID, Name: n.Name, Labels: n.Labels, Containers: len(n.Containers)})
	}
	return out, nil
}
