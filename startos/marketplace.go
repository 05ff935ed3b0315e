package startos

import (
	"context"
	"fmt"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/market"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/registry"
)

// openMarket starts the registries: cached indexes and the scheduled
// refresh, closed with the services.
func (s *Server) openMarket(ctx context.Context) error {
	osv, _ := manifest.ParseVersion(Version)
	m, err := market.New(ctx, market.Options{
		Store: s.db, DataDir: s.cfg.DataDir, Installer: s.installer, Logger: s.log,
		Notify:   func(ctx context.Context, in model.NotificationInput) { _, _ = s.Notify(ctx, in) },
		Platform: registry.Platform{Arch: Arch(), OSVersion: osv},
		Defaults: s.cfg.DefaultRegistries, RefreshEvery: s.cfg.RegistryRefresh,
		AllowLocal: s.cfg.AllowLocalDownloads, AllowRedirectsOffHost: s.cfg.AllowRegistryRedirects,
		StallTimeout: s.cfg.RegistryStallTimeout,
	})
	if err != nil {
		return fmt.Errorf("startos: registries: %w", err)
	}
	s.market = m
	return nil
}

func (s *Server) marketOrErr() (*market.Market, error) {
	if s.market == nil {
		return nil, fmt.Errorf("registries are not open: %w", errdefs.ErrUnavailable)
	}
	return s.market, nil
}

// RegistryAdd is registry.add: pin a registry to the given key fingerprint,
// or to the key its index is signed by now (trust on first use).
func (s *Server) RegistryAdd(ctx context.Context, p model.RegistryAddParams) (model.RegistryAddResult, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return model.RegistryAddResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return m.Add(ctx, p)
}

// RegistryRemove is registry.remove.
func (s *Server) RegistryRemove(ctx context.Context, p model.RegistryURLParams) (model.Empty, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return model.Empty{}, err
	}
	return model.Empty{}, m.Remove(ctx, p)
}

// RegistryList is registry.list.
func (s *Server) RegistryList(context.Context, model.Empty) ([]model.RegistryInfo, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return nil, err
	}
	return m.List(), nil
}

// RegistryRefresh is registry.refresh: fetch and verify one or every index.
func (s *Server) RegistryRefresh(ctx context.Context, p model.RegistryRefreshParams) (model.Empty, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return model.Empty{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return model.Empty{}, m.Refresh(ctx, p.URL)
}

// PackageSearch is package.search over the cached indexes.
func (s *Server) PackageSearch(_ context.Context, p model.PackageSearchParams) ([]model.MarketPackage, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return nil, err
	}
	return m.Search(p)
}

// PackageUpdates is package.updates: the packages with a newer version on
// offer.
func (s *Server) PackageUpdates(context.Context, model.Empty) ([]model.PackageUpdateInfo, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return nil, err
	}
	return m.Updates(), nil
}

// PackageUpdate is package.update: install a newer version from the
// registries through the update path (migration, rollback); never older.
func (s *Server) PackageUpdate(ctx context.Context, p model.PackageUpdateParams) (model.Empty, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return model.Empty{}, err
	}
	return model.Empty{}, m.Update(ctx, p)
}

// RegistryPackageIndex is registry.package.index in StartOS's shape.
func (s *Server) RegistryPackageIndex(_ context.Context, p model.RegistryIndexParams) (model.PackageIndex, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return model.PackageIndex{}, err
	}
	return m.PackageIndex(p)
}

// RegistryPackageGet is registry.package.get in StartOS's shape.
func (s *Server) RegistryPackageGet(_ context.Context, p model.RegistryPackageGetParams) (model.PackageGet, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return model.PackageGet{}, err
	}
	return m.PackageGet(p)
}

// MarketplaceCategories lists the categories over every registry.
func (s *Server) MarketplaceCategories(context.Context, model.Empty) ([]string, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return nil, err
	}
	return m.Categories(), nil
}

// MarketplaceGet is StartOS 0.3's marketplace.get, answered from a
// configured registry's verified index; it never fetches the URL.
func (s *Server) MarketplaceGet(_ context.Context, p model.MarketplaceGetParams) (any, error) {
	m, err := s.marketOrErr()
	if err != nil {
		return nil, err
	}
	return m.MarketplaceGet(p)
}
