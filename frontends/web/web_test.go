package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func newUI(t *testing.T) (*UI, http.Handler) {
	t.Helper()
	u, err := New()
	if err != nil {
		t.Fatal(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api:"+r.URL.Path) })
	return u, u.Mount(api)
}

func get(h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestBudget: the limit on what a browser downloads.
func TestBudget(t *testing.T) {
	u, _ := newUI(t)
	raw, gz := u.Shipped()
	t.Logf("shipped: %d bytes, %d gzipped", raw, gz)
	if raw > 150<<10 {
		t.Errorf("index.html + JS + CSS is %d bytes; the budget is 150 KiB", raw)
	}
	if gz >= raw {
		t.Errorf("gzip saves nothing: %d of %d", gz, raw)
	}
}

func TestIndexNamesItsBuildAndHasNoInlineCode(t *testing.T) {
	u, h := newUI(t)
	w := get(h, "/")
	if w.Code != 200 {
		t.Fatalf("GET / = %d", w.Code)
	}
	body := w.Body.String()
	if strings.Contains(body, basePlaceholder) || !strings.Contains(body, u.Base()+"app.js") {
		t.Errorf("index.html does not name the build folder %s:\n%s", u.Base(), body)
	}
	if regexp.MustCompile(`<script(?:[^>]*[^/])?>\s*[^<\s]`).MatchString(body) || strings.Contains(body, "style=") || strings.Contains(body, "<style") {
		t.Errorf("index.html has inline script or style:\n%s", body)
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`).FindAllStringSubmatch(body, -1) {
		if c := get(h, m[1]).Code; c != 200 {
			t.Errorf("index.html names %s, which answers %d", m[1], c)
		}
	}
	// Module imports between files resolve inside the build folder.
	for name, a := range u.assets {
		for _, m := range regexp.MustCompile(`from '\./([^']+)'`).FindAllStringSubmatch(string(a.body), -1) {
			dir := name[:strings.LastIndex(name, "/")+1]
			if _, ok := u.assets[dir+m[1]]; !ok {
				t.Errorf("%s imports ./%s, which is not embedded", name, m[1])
			}
		}
	}
}

func TestHeaders(t *testing.T) {
	u, h := newUI(t)
	for _, tc := range []struct {
		path, cache, ctype string
	}{
		{"/", "no-cache", "text/html; charset=utf-8"},
		{u.Base() + "app.js", "public, max-age=31536000, immutable", "text/javascript; charset=utf-8"},
		{u.Base() + "app.css", "public, max-age=31536000, immutable", "text/css; charset=utf-8"},
	} {
		w := get(h, tc.path)
		hd := w.Header()
		for k, want := range map[string]string{
			"Cache-Control": tc.cache, "Content-Type": tc.ctype, "X-Content-Type-Options": "nosniff",
			"Content-Security-Policy": ContentSecurityPolicy, "X-Frame-Options": "DENY",
		} {
			if got := hd.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", tc.path, k, got, want)
			}
		}
		if !strings.Contains(hd.Get("Content-Security-Policy"), "frame-ancestors 'none'") || strings.Contains(ContentSecurityPolicy, "unsafe") {
			t.Errorf("CSP is not strict: %s", ContentSecurityPolicy)
		}
	}
}

func TestETagAndGzip(t *testing.T) {
	u, h := newUI(t)
	path := u.Base() + "services.js"
	plain := get(h, path)
	zipped := get(h, path, "Accept-Encoding", "br, gzip")
	if zipped.Header().Get("Content-Encoding") != "gzip" || plain.Header().Get("Content-Encoding") != "" {
		t.Fatalf("Content-Encoding: gzipped %q, plain %q", zipped.Header().Get("Content-Encoding"), plain.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plain.Body.Bytes()) {
		t.Error("the gzipped body is not the plain body")
	}
	if zipped.Header().Get("ETag") == plain.Header().Get("ETag") {
		t.Error("both encodings share one ETag")
	}
	for _, w := range []*httptest.ResponseRecorder{plain, zipped} {
		again := get(h, path, "If-None-Match", w.Header().Get("ETag"), "Accept-Encoding", w.Header().Get("Content-Encoding"))
		if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("revalidating %s: %d with %d bytes, want 304 and none", w.Header().Get("ETag"), again.Code, again.Body.Len())
		}
	}
	if w := get(h, path, "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 got gzip")
	}
}

func TestRoutes(t *testing.T) {
	u, h := newUI(t)
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/rpc/v1", 200, "api:/rpc/v1"},
		{"GET", "/ws/rpc", 200, "api:/ws/rpc"},
		{"GET", "/rest/rpc/x", 200, "api:/rest/rpc/x"},
		{"GET", "/ui/0000000000000000/app.js", 404, "reload"},
		{"GET", u.Base() + "nope.js", 404, "reload"},
		{"GET", u.Base() + "../web.go", 404, ""},
		{"POST", "/", 405, ""},
		{"HEAD", "/", 200, ""},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, w.Code, w.Body.String(), tc.code, tc.body)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip;q=1.0": true, "gzip;q=0": false, "br": false, "*": true, "GZIP": true,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v", h, got)
		}
	}
}
