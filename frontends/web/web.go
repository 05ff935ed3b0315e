// Package web is the browser frontend of StartOS: static ES modules embedded
// in startd and served at "/". The pages speak only the public RPC surface
// (POST /rpc/v1, GET /ws/rpc); this package holds no logic beyond serving
// the files.
//
// Assets live under /ui/<build>/, where <build> is a hash of every embedded
// file, so they are cached forever and a new daemon version is fetched at
// once; index.html names that folder and is revalidated by ETag on every
// load. Every file is gzipped once at start.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
)

//go:embed static
var files embed.FS

// AssetPrefix is the path every asset is served under, followed by the build
// hash.
const AssetPrefix = "/ui/"

// ContentSecurityPolicy allows only this origin's scripts, styles and
// connections (the WebSocket included); images also from data: URLs and
// https (the icons a registry's signed index names); no inline script or
// style attribute, no framing, no plugins.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"

// basePlaceholder in index.html is replaced by the asset folder.
const basePlaceholder = "{{BASE}}"

type asset struct {
	body  []byte
	gz    []byte // nil when gzip does not make it smaller
	ctype string
	etag  string
}

// UI serves the embedded pages.
type UI struct {
	base   string // /ui/<build>/
	index  asset
	assets map[string]asset // by name inside static/
}

// New reads and compresses the embedded files.
func New() (*UI, error) {
	names := []string{}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, strings.TrimPrefix(p, "static/"))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	build := sha256.New()
	raw := map[string][]byte{}
	for _, n := range names {
		b, err := files.ReadFile("static/" + n)
		if err != nil {
			return nil, err
		}
		raw[n] = b
		fmt.Fprintf(build, "%s\x00%d\x00", n, len(b))
		build.Write(b)
	}
	index, ok := raw["index.html"]
	if !ok {
		return nil, fmt.Errorf("web: static/index.html is missing")
	}
	u := &UI{base: AssetPrefix + hex.EncodeToString(build.Sum(nil)[:8]) + "/", assets: map[string]asset{}}
	for n, b := range raw {
		if n == "index.html" {
			continue
		}
		if u.assets[n], err = newAsset(n, b); err != nil {
			return nil, err
		}
	}
	if u.index, err = newAsset("index.html", bytes.ReplaceAll(index, []byte(basePlaceholder), []byte(u.base))); err != nil {
		return nil, err
	}
	return u, nil
}

func newAsset(name string, body []byte) (asset, error) {
	sum := sha256.Sum256(body)
	a := asset{body: body, ctype: contentType(name), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if _, err := zw.Write(body); err != nil {
		return a, err
	}
	if err := zw.Close(); err != nil {
		return a, err
	}
	if b.Len() < len(body) {
		a.gz = b.Bytes()
	}
	return a, nil
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".md", ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// Base is the asset folder of this build: /ui/<build>/.
func (u *UI) Base() string { return u.base }

// Shipped is what a browser downloads for the first page: index.html and
// every JS and CSS file, uncompressed and as sent with gzip.
func (u *UI) Shipped() (raw, gzipped int) {
	add := func(a asset) {
		raw += len(a.body)
		if a.gz != nil {
			gzipped += len(a.gz)
		} else {
			gzipped += len(a.body)
		}
	}
	add(u.index)
	for n, a := range u.assets {
		if e := path.Ext(n); e == ".js" || e == ".css" {
			add(a)
		}
	}
	return raw, gzipped
}

// Mount serves the UI at "/" and under /ui/, and passes every other path to
// next (the RPC surface and whatever else the daemon serves).
func (u *UI) Mount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/" || p == "/index.html":
			u.serve(w, r, u.index, "no-cache")
		case strings.HasPrefix(p, AssetPrefix):
			a, ok := u.assets[strings.TrimPrefix(p, u.base)]
			if !ok || !strings.HasPrefix(p, u.base) {
				// Another build's folder (a page loaded before an upgrade)
				// or no such file: the page reloads index.html.
				securityHeaders(w.Header())
				http.Error(w, "no such file in this build of the web UI; reload the page", http.StatusNotFound)
				return
			}
			u.serve(w, r, a, "public, max-age=31536000, immutable")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

func (u *UI) serve(w http.ResponseWriter, r *http.Request, a asset, cache string) {
	h := w.Header()
	securityHeaders(h)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "the web UI answers GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	body, etag := a.body, a.etag
	if a.gz != nil {
		h.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", cache)
	h.Set("ETag", etag)
	if matchesETag(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// acceptsGzip reads Accept-Encoding: gzip listed without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") || strings.TrimSpace(name) == "*" {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

func matchesETag(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// Mount serves the embedded UI in front of next. The embedded files are
// fixed at build time and checked by this package's tests, so a failure to
// read them is a broken build and panics.
func Mount(next http.Handler) http.Handler {
	u, err := New()
	if err != nil {
		panic(err)
	}
	return u.Mount(next)
}
