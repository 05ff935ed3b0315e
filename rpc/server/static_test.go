package server

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/install"
	"github.com/startos-go/startos/startos/static"
)

// A stored icon is served at its content-hash URL to an authenticated
// caller, with caching that never revalidates, 304 for its ETag, and
// nothing for a URL that is not <id>/<sha256>/<known name>.
func TestStaticFilesByContentHash(t *testing.T) {
	b := newBackend(t)
	ts := startServer(t, b)
	icon := []byte("\x89PNG fake icon bytes")
	url, err := static.New(filepath.Join(b.DataDir(), install.StaticDir)).Put("hello", "icon.png", icon)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, local bool, header ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, ts.httpURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if local {
			req.AddCookie(&http.Cookie{Name: rpc.LocalCookie, Value: ts.cookie})
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := ts.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp := get(url, true)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != string(icon) {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, body)
	}
	etag := resp.Header.Get("ETag")
	if ct := resp.Header.Get("Content-Type"); ct != "image/png" || !strings.Contains(url, strings.Trim(etag, `"`)) ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("headers %v", resp.Header)
	}
	if resp := get(url, true, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	if resp := get(url, false); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a session: %d, want 401", resp.StatusCode)
	}
	hash := strings.Split(strings.TrimPrefix(url, static.URLPrefix), "/")[1]
	for _, bad := range []string{
		static.URLPrefix + "hello/" + hash + "/icon.svg",                    // not stored
		static.URLPrefix + "hello/" + strings.Repeat("0", 64) + "/icon.png", // another hash
		static.URLPrefix + "hello/" + hash + "/secret.txt",                  // not a static file name
		static.URLPrefix + "Hello/" + hash + "/icon.png",                    // not a package id
		static.URLPrefix + "hello/..%2f..%2f/icon.png",
		static.URLPrefix + "hello/" + hash[:10] + "/icon.png",
	} {
		if resp := get(bad, true); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("GET %s: %d, want 404", bad, resp.StatusCode)
		}
	}
}
