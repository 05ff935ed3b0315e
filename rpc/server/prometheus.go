package server

import (
	"net/http"
	"strings"
)

// MetricsPath is where the Prometheus text exposition is served.
const MetricsPath = "/metrics"

// serveMetrics is GET /metrics. A Prometheus scraper cannot log in, so
// besides a session (or the local cookie, or the unix socket) it accepts
// "Authorization: Bearer <token>" with a token made by
// server.metrics-token.create (Prometheus's authorization.credentials).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	if !s.identify(r).Authenticated() && !s.d.lib.MetricsTokenValid(bearerToken(r)) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="startos metrics"`)
		http.Error(w, "authentication required: send Authorization: Bearer <token> with a token from server.metrics-token.create, or log in", http.StatusUnauthorized)
		return
	}
	armWrite(w)
	s.d.lib.PrometheusHandler().ServeHTTP(w, r)
}

// bearerToken is the token of an "Authorization: Bearer" header, or "".
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
