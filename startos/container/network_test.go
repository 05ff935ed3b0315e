package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/startos-go/startos/startos/errdefs"
)

func TestPickSubnet(t *testing.T) {
	p := netip.MustParsePrefix
	pool := p("10.9.0.0/24")
	tests := []struct {
		name string
		used []netip.Prefix
		want []netip.Prefix // any of these
		ok   bool
	}{
		{"empty pool", nil, []netip.Prefix{p("10.9.0.0/26"), p("10.9.0.64/26"), p("10.9.0.128/26"), p("10.9.0.192/26")}, true},
		{"three taken", []netip.Prefix{p("10.9.0.0/26"), p("10.9.0.64/26"), p("10.9.0.192/26")}, []netip.Prefix{p("10.9.0.128/26")}, true},
		{"a small route inside one", []netip.Prefix{p("10.9.0.0/25"), p("10.9.0.200/30")}, []netip.Prefix{p("10.9.0.128/26")}, true},
		{"a wide network over the pool", []netip.Prefix{p("10.0.0.0/8")}, nil, false},
		{"unrelated networks", []netip.Prefix{p("172.17.0.0/16"), p("192.168.1.0/24")}, []netip.Prefix{p("10.9.0.0/26"), p("10.9.0.64/26"), p("10.9.0.128/26"), p("10.9.0.192/26")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 { // the pick is random among the free ones
				got, ok := pickSubnet(pool, 26, tt.used)
				if ok != tt.ok {
					t.Fatalf("pickSubnet ok = %v, want %v (got %s)", ok, tt.ok, got)
				}
				if !ok {
					return
				}
				found := false
				for _, w := range tt.want {
					found = found || got == w
				}
				if !found {
					t.Fatalf("pickSubnet = %s, want one of %v", got, tt.want)
				}
			}
		})
	}
	if _, ok := pickSubnet(pool, 20, nil); ok {
		t.Error("a /20 out of a /24 pool was picked")
	}
}

// TestHostRoutes: the routes of this machine are read as masked prefixes.
func TestHostRoutes(t *testing.T) {
	routes := hostRoutes()
	if len(routes) == 0 {
		t.Skip("this machine has no IPv4 route but the default one")
	}
	for _, r := range routes {
		if !r.IsValid() || r.Bits() == 0 || r != r.Masked() {
			t.Errorf("route %v: want a masked, non-default prefix", r)
		}
	}
}

// TestEnsureNetworkTakesItsSubnetFromThePool: package networks take their
// subnet from the client's pool, not the engine's default pools (about
// thirty networks in all, which 100 packages exhausted); each gets its own,
// and a full pool is a clear error.
func TestEnsureNetworkTakesItsSubnetFromThePool(t *testing.T) {
	engine(t) // skips or fails without an engine
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Two /26 subnets: a corner of the default pool that concurrent
	// daemons seldom pick (1 in 512), and the test retries around them.
	pool := netip.MustParsePrefix("172.16.254.128/25")
	c, err := Connect(ctx, Options{SubnetPool: pool, SubnetBits: 26})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() }) // after the networks' removal below
	b := make([]byte, 4)
	rand.Read(b)
	base := "startos-test-pool-" + hex.EncodeToString(b)
	var subnets []netip.Prefix
	for i := range 2 {
		name := base + "-" + string(rune('a'+i))
		if _, err := c.EnsureNetwork(ctx, name, map[string]string{"dev.startos.test": "pool"}); err != nil {
			t.Fatalf("EnsureNetwork %s: %v", name, err)
		}
		t.Cleanup(func() { _ = c.RemoveNetwork(context.Background(), name) })
		n, err := c.engine(ctx).NetworkInspect(ctx, name, network.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(n.IPAM.Config) != 1 {
			t.Fatalf("network %s has IPAM %+v, want one subnet", name, n.IPAM.Config)
		}
		s, err := netip.ParsePrefix(n.IPAM.Config[0].Subnet)
		if err != nil || s.Bits() != 26 || !pool.Contains(s.Addr()) {
			t.Fatalf("network %s has subnet %q, want a /26 of %s", name, n.IPAM.Config[0].Subnet, pool)
		}
		subnets = append(subnets, s)
	}
	if subnets[0] == subnets[1] {
		t.Fatalf("two networks share subnet %s", subnets[0])
	}
	// Asking again for an existing name creates nothing.
	if _, err := c.EnsureNetwork(ctx, base+"-a", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.EnsureNetwork(ctx, base+"-c", nil)
	if !errors.Is(err, errdefs.ErrUnavailable) {
		_ = c.RemoveNetwork(context.Background(), base+"-c")
		t.Fatalf("EnsureNetwork on a full pool: %v, want ErrUnavailable", err)
	}
}
