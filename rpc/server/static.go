package server

import (
	"errors"
	"net/http"
	"os"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/static"
)

// serveStatic serves a package's icon, licence or instructions by content
// hash (GET /public/package-data/<id>/<sha256>/<name>), to the same callers
// as the RPC surface. The URL names the content, so a client caches it for
// good and revalidates with the hash as its ETag.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	if !s.identify(r).Authenticated() {
		http.Error(w, "authentication required: log in (auth.login) for a session cookie, or use the local socket", http.StatusUnauthorized)
		return
	}
	f, err := s.d.lib.StaticFile(strings.TrimPrefix(r.URL.Path, static.URLPrefix))
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			http.Error(w, "no such file", http.StatusNotFound)
			return
		}
		s.log.Warn("serving a static file", "path", r.URL.Path, "error", err)
		http.Error(w, "the file cannot be read", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("ETag", f.ETag)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	// An SVG icon opened as a page must not run scripts.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	file, err := os.Open(f.Path)
	if err != nil {
		http.Error(w, "the file cannot be read", http.StatusInternalServerError)
		return
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		http.Error(w, "the file cannot be read", http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", f.ContentType)
	http.ServeContent(w, r, "", st.ModTime(), file)
}
