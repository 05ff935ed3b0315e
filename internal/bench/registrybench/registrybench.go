// Package registrybench measures the package registry: fetching, verifying
// and loading a signed index of 1,000 packages from a loopback HTTP server,
// and searching it.
package registrybench

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"time"

	"github.com/startos-go/startos/internal/bench/goal"
	"github.com/startos-go/startos/startos/registry"
	"github.com/startos-go/startos/startos/s9pk"
)

// Index signs an index of n packages (one version each) with a fresh
// registry key and returns it with the key.
func Index(n int) ([]byte, ed25519.PublicKey, error) {
	reg, err := s9pk.GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	dev, err := s9pk.GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	c := s9pk.Commitment{RootMaxSize: 4096}
	sig, err := s9pk.SignCommitment(dev, c)
	if err != nil {
		return nil, nil, err
	}
	devKey := registry.EncodeKey(dev.Public().(ed25519.PublicKey))
	now := time.Now().UTC()
	idx := &registry.Index{Name: "bench", Sequence: 1, IssuedAt: now, Expires: now.Add(time.Hour), Packages: map[string]*registry.Package{}}
	cats := []string{"bitcoin", "media", "tools", "data", "social"}
	for i := range n {
		id := fmt.Sprintf("service-%04d", i)
		v := &registry.Version{ID: id, Version: "1.0.0", Title: fmt.Sprintf("Service %d", i),
			Arch: []string{"x86_64", "aarch64"}, Size: 50 << 20, Commitment: c, DeveloperKey: devKey,
			Signature: base64.StdEncoding.EncodeToString(sig), URL: "packages/" + id + "/1.0.0/" + id + ".s9pk",
			Categories: []string{cats[i%len(cats)]}, ReleaseNotes: "Fixes and improvements.", PublishedAt: now}
		v.Description.Short = fmt.Sprintf("Self-hosted service number %d for your box", i)
		v.Description.Long = "A longer description of the service, what it does and how to use it once installed."
		idx.Packages[id] = &registry.Package{Developers: []string{devKey}, Versions: map[string]*registry.Version{"1.0.0": v}}
	}
	data, err := registry.Sign(reg, idx)
	return data, reg.Public().(ed25519.PublicKey), err
}

// Run reports the registry figures.
func Run(ctx context.Context, w io.Writer) error {
	data, key, err := Index(1000)
	if err != nil {
		return err
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.Write(data) }))
	defer srv.Close()
	var times []time.Duration
	var cat *registry.Catalog
	for range 15 {
		start := time.Now()
		body, err := registry.Fetch(ctx, srv.URL+"/index.json", registry.FetchOptions{})
		if err != nil {
			return err
		}
		ver, err := registry.Verify(body, registry.VerifyOptions{Key: key})
		if err != nil {
			return err
		}
		cat = registry.NewCatalog(ver.Index)
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	med := times[len(times)/2]
	fmt.Fprintf(w, "registry index of 1,000 packages: %d KiB; fetch+verify+load median %s (min %s)\n", len(data)>>10, med.Round(10*time.Microsecond), times[0].Round(10*time.Microsecond))
	goal.AtMost(w, "registry: fetch+verify+load a 1,000-package index", float64(med)/1e6, 100, "%.1f ms", "<= 100 ms")

	queries := []string{"service", "number 42", "bitcoin", "self-hosted 7", "nothing-matches", "Service 999", "box"}
	var lat []time.Duration
	for i := range 2000 {
		q := queries[i%len(queries)]
		start := time.Now()
		cat.Search(q, "")
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := lat[len(lat)*99/100]
	fmt.Fprintf(w, "registry search over 1,000: p50 %s, p99 %s\n", lat[len(lat)/2], p99)
	goal.AtMost(w, "registry: search p99 over 1,000 packages", float64(p99)/1e6, 1, "%.3f ms", "<= 1 ms")
	return nil
}
