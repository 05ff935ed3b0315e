package model

import "time"

// MetricsToken is a bearer token that lets a Prometheus scraper read
// GET /metrics; the token itself is shown once, when created.
type MetricsToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// StoredMetricsToken is a MetricsToken with the SHA-256 of its secret, as
// the private document keeps it.
type StoredMetricsToken struct {
	MetricsToken
	Hash string `json:"hash"`
}

// MetricsTokenCreateParams is server.metrics-token.create.
type MetricsTokenCreateParams struct {
	// Name says what scrapes with the token ("prometheus on nas").
	Name string `json:"name"`
}

// MetricsTokenCreated is the answer of server.metrics-token.create: the
// only time the secret is shown.
type MetricsTokenCreated struct {
	MetricsToken
	Token string `json:"token"`
}

// MetricsTokenRevokeParams is server.metrics-token.revoke.
type MetricsTokenRevokeParams struct {
	ID string `json:"id"`
}
