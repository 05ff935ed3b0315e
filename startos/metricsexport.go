package startos

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/prom"
)

// MetricsTokenPrefix starts every metrics token, so one found in a config
// file says what it is.
const MetricsTokenPrefix = "startos-metrics-"

// maxMetricsTokens bounds the tokens an owner may keep.
const maxMetricsTokens = 32

// openPrometheus builds the exporter over what the library already keeps.
func (s *Server) openPrometheus() {
	s.prom = prom.New(prom.Sources{
		Box: s.metrics.Latest,
		Document: func() *model.Document {
			_, d := s.db.Read()
			return d
		},
		PackageStats: func(ctx context.Context) (map[string]model.PackageStats, error) {
			if s.services == nil {
				return nil, nil
			}
			return s.services.Stats(ctx)
		},
		Watchdog: s.wd.Status,
		LogSinks: s.logs.Stats,
		Revision: s.db.Revision,
		Delivery: func() []model.DeliveryStats {
			if s.notifier == nil {
				return nil
			}
			return s.notifier.Stats()
		},
	})
}

// PrometheusHandler serves GET /metrics in the Prometheus text format. It
// checks no credentials; the transport must (see MetricsTokenValid).
func (s *Server) PrometheusHandler() http.Handler { return s.prom.Handler() }

// Prometheus is the exporter, for library users that gather the metrics
// themselves or register their own.
func (s *Server) Prometheus() *prom.Exporter { return s.prom }

// ObserveCall counts one RPC call for /metrics. method must come from the
// method table (or be "unknown").
func (s *Server) ObserveCall(method string, code int, d time.Duration) {
	s.prom.ObserveCall(method, code, d)
}

func metricsTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// MetricsTokenValid reports whether token is a metrics token the owner
// created and has not revoked. Tokens carry 256 random bits, so a lookup
// by hash leaks nothing worth timing.
func (s *Server) MetricsTokenValid(token string) bool {
	if !strings.HasPrefix(token, MetricsTokenPrefix) || len(token) > 200 {
		return false
	}
	h := metricsTokenHash(token)
	_, doc := s.db.Read()
	for _, t := range doc.Private.MetricsTokens {
		if t.Hash == h {
			return true
		}
	}
	return false
}

// checkTokenName accepts 0-64 printable characters.
func checkTokenName(n string) error {
	if !utf8.ValidString(n) || utf8.RuneCountInString(n) > 64 {
		return fmt.Errorf("metrics token name: at most 64 characters of valid UTF-8: %w", errdefs.ErrInvalidRequest)
	}
	for _, r := range n {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("metrics token name %q holds a control character: %w", n, errdefs.ErrInvalidRequest)
		}
	}
	return nil
}

// MetricsTokenCreate is server.metrics-token.create: a new bearer token for
// GET /metrics. Only its hash is kept; the answer is the one time the
// token is shown.
func (s *Server) MetricsTokenCreate(ctx context.Context, p model.MetricsTokenCreateParams) (model.MetricsTokenCreated, error) {
	if err := checkTokenName(p.Name); err != nil {
		return model.MetricsTokenCreated{}, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return model.MetricsTokenCreated{}, err
	}
	idb := make([]byte, 6)
	if _, err := rand.Read(idb); err != nil {
		return model.MetricsTokenCreated{}, err
	}
	token := MetricsTokenPrefix + base64.RawURLEncoding.EncodeToString(secret)
	t := model.StoredMetricsToken{
		MetricsToken: model.MetricsToken{ID: hex.EncodeToString(idb), Name: p.Name, CreatedAt: s.cfg.Now().UTC()},
		Hash:         metricsTokenHash(token),
	}
	if _, err := s.db.Mutate(ctx, func(d *model.Document) error {
		if len(d.Private.MetricsTokens) >= maxMetricsTokens {
			return fmt.Errorf("metrics token: already %d; revoke one first: %w", maxMetricsTokens, errdefs.ErrInvalidRequest)
		}
		m := make(map[string]model.StoredMetricsToken, len(d.Private.MetricsTokens)+1)
		for k, v := range d.Private.MetricsTokens {
			m[k] = v
		}
		m[t.ID] = t
		d.Private.MetricsTokens = m
		return nil
	}); err != nil {
		return model.MetricsTokenCreated{}, err
	}
	s.log.Info("metrics token created", "id", t.ID, "name", t.Name)
	return model.MetricsTokenCreated{MetricsToken: t.MetricsToken, Token: token}, nil
}

// MetricsTokenList is server.metrics-token.list, oldest first, without
// the secrets.
func (s *Server) MetricsTokenList(context.Context) ([]model.MetricsToken, error) {
	_, doc := s.db.Read()
	out := []model.MetricsToken{}
	for _, t := range doc.Private.MetricsTokens {
		out = append(out, t.MetricsToken)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// MetricsTokenRevoke is server.metrics-token.revoke: the token stops
// working at once.
func (s *Server) MetricsTokenRevoke(ctx context.Context, p model.MetricsTokenRevokeParams) (model.Empty, error) {
	if _, err := s.db.Mutate(ctx, func(d *model.Document) error {
		if _, ok := d.Private.MetricsTokens[p.ID]; !ok {
			return fmt.Errorf("no metrics token has id %q: %w", p.ID, errdefs.ErrNotFound)
		}
		m := make(map[string]model.StoredMetricsToken, len(d.Private.MetricsTokens))
		for k, v := range d.Private.MetricsTokens {
			if k != p.ID {
				m[k] = v
			}
		}
		d.Private.MetricsTokens = m
		return nil
	}); err != nil {
		return model.Empty{}, err
	}
	s.log.Info("metrics token revoked", "id", p.ID)
	return model.Empty{}, nil
}
