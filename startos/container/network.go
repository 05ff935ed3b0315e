package container

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	mathbits "math/bits"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/startos-go/startos/startos/errdefs"
)

// EnsureNetwork creates a bridge network named name with labels, unless one
// of that name exists, and returns its id. Its subnet comes from the
// client's own pool (Options.SubnetPool), not the engine's default pools:
// those hold about thirty networks in all, which a box with more packages
// would exhaust, and then neither the packages nor anything else on the
// engine could get a network.
func (c *Client) EnsureNetwork(ctx context.Context, name string, labels map[string]string) (string, error) {
	// Each engine call below has its own deadline: a busy engine (a
	// hundred bridge networks make each create slow) must not have the
	// inspect and the listing eat the create's time.
	ictx, cancel := c.callCtx(ctx)
	defer cancel()
	n, err := c.engine(ictx).NetworkInspect(ictx, name, network.InspectOptions{})
	if err == nil {
		return n.ID, nil
	}
	if strings.Contains(err.Error(), "is ambiguous") {
		// The engine lets two creates of one name race (API 1.41 checks
		// duplicates loosely), and every later use of the name then fails.
		dctx, cancel := c.callCtx(ctx)
		defer cancel()
		return c.dedupeNetwork(dctx, name)
	}
	if werr := c.wrap("inspect network "+name, err); !errors.Is(werr, errdefs.ErrNotFound) {
		return "", werr
	}
	// Another creator (another package's actor, another process) may take
	// the subnet picked here first; the engine then refuses the overlap and
	// a fresh pick is tried.
	var lastErr error
	for range 8 {
		used, err := c.usedSubnets(ctx)
		if err != nil {
			return "", err
		}
		subnet, ok := pickSubnet(c.pool, c.poolBits, used)
		if !ok {
			return "", fmt.Errorf("create network %s: every /%d subnet of %s is in use by a network or a route of this machine: %w", name, c.poolBits, c.pool, errdefs.ErrUnavailable)
		}
		// A create rewrites the engine's packet filter rules, which grow
		// with every network: on a busy engine with fifty networks it took
		// over 30 s. It gets four call timeouts.
		cctx, cancel := context.WithTimeout(ctx, 4*c.call)
		r, err := c.engine(cctx).NetworkCreate(cctx, name, network.CreateOptions{Driver: "bridge", Labels: labels,
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet.String()}}}})
		cancel()
		if err == nil {
			return r.ID, nil
		}
		lastErr = c.wrap("create network "+name+" on "+subnet.String(), err)
		if !strings.Contains(err.Error(), "overlap") {
			return "", lastErr
		}
	}
	return "", lastErr
}

// usedSubnets lists the IPv4 subnets of the engine's networks and the
// destinations of the machine's routes (except the default route).
func (c *Client) usedSubnets(ctx context.Context) ([]netip.Prefix, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	list, err := c.engine(ctx).NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, c.wrap("list networks", err)
	}
	var used []netip.Prefix
	for _, n := range list {
		for _, cfg := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(cfg.Subnet); err == nil && p.Addr().Is4() {
				used = append(used, p.Masked())
			}
		}
	}
	return append(used, hostRoutes()...), nil
}

// hostRoutes reads the IPv4 routes of this machine from /proc/net/route:
// the engine does not check a given subnet against them, and a network
// over a route to the LAN would cut the box off from that LAN.
func hostRoutes() []netip.Prefix {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		// The kernel prints them in host (little-endian) byte order.
		var d, m [4]byte
		binary.LittleEndian.PutUint32(d[:], uint32(dst))
		binary.LittleEndian.PutUint32(m[:], uint32(mask))
		bits := 0
		for _, x := range m {
			bits += mathbits.OnesCount8(x)
		}
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(d), bits).Masked())
	}
	return out
}

// pickSubnet returns a /bits subnet of pool that overlaps none of used,
// chosen at random among the free ones so that concurrent creators seldom
// pick the same.
func pickSubnet(pool netip.Prefix, bits int, used []netip.Prefix) (netip.Prefix, bool) {
	if !pool.Addr().Is4() || bits < pool.Bits() || bits > 30 {
		return netip.Prefix{}, false
	}
	count := 1 << (bits - pool.Bits())
	base := binary.BigEndian.Uint32(pool.Masked().Addr().AsSlice())
	step := uint32(1) << (32 - bits)
	start := rand.IntN(count)
	for i := range count {
		k := (start + i) % count
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], base+uint32(k)*step)
		cand := netip.PrefixFrom(netip.AddrFrom4(a), bits)
		if !slices.ContainsFunc(used, cand.Overlaps) {
			return cand, true
		}
	}
	return netip.Prefix{}, false
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
