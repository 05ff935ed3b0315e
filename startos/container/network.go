package container

import (
	"context"
	"errors"

	"github.com/docker/docker/api/types/network"

	"github.com/startos-go/startos/startos/errdefs"
)

// EnsureNetwork creates a bridge network named name with labels, unless one
// of that name exists, and returns its id.
func (c *Client) EnsureNetwork(ctx context.Context, name string, labels map[string]string) (string, error) {
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
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if err := c.api.NetworkRemove(ctx, name); err != nil {
		if werr := c.wrap("remove network "+name, err); !errors.Is(werr, errdefs.ErrNotFound) {
			return werr
		}
	}
	return nil
}
