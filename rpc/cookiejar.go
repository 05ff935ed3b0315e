package rpc

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/startos-go/startos/internal/atomicfile"
)

// FileJar is the clients' cookie jar, ~/.startos/cookies.json: cookies per
// host:port, {"<host:port>": [{"name","value","expires"}]}, written
// atomically with mode 0600, so a login from either tool serves both.
type FileJar struct {
	Path string
	// OnError, if set, hears about a jar that could not be saved. (The
	// console owns the terminal, so nothing is printed.)
	OnError func(error)

	// saveMu serialises writers' read-modify-write of the file. Readers do
	// not take it: the file is replaced by rename, so they always see a
	// whole version.
	saveMu sync.Mutex
}

// JarEntry is one cookie as the jar file stores it.
type JarEntry struct {
	Name    string    `json:"name"`
	Value   string    `json:"value"`
	Expires time.Time `json:"expires,omitzero"`
}

func (j *FileJar) load() map[string][]JarEntry {
	m := map[string][]JarEntry{}
	if b, err := os.ReadFile(j.Path); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

// SetCookies stores cookies for u's host, replacing those of the same name;
// an expired cookie or one with a negative Max-Age removes it.
func (j *FileJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	j.saveMu.Lock()
	defer j.saveMu.Unlock()
	m := j.load()
	host := u.Host
	now := time.Now()
	for _, c := range cookies {
		kept := m[host][:0]
		for _, e := range m[host] {
			if e.Name != c.Name {
				kept = append(kept, e)
			}
		}
		m[host] = kept
		if c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(now)) {
			continue
		}
		e := JarEntry{Name: c.Name, Value: c.Value}
		switch {
		case c.MaxAge > 0:
			e.Expires = now.Add(time.Duration(c.MaxAge) * time.Second)
		case !c.Expires.IsZero():
			e.Expires = c.Expires
		}
		m[host] = append(m[host], e)
	}
	if err := j.save(m); err != nil && j.OnError != nil {
		j.OnError(fmt.Errorf("cookie jar %s not saved: %w", j.Path, err))
	}
}

// Cookies returns the unexpired cookies for u's host.
func (j *FileJar) Cookies(u *url.URL) []*http.Cookie {
	var out []*http.Cookie
	for _, e := range j.load()[u.Host] {
		if e.Expires.IsZero() || e.Expires.After(time.Now()) {
			out = append(out, &http.Cookie{Name: e.Name, Value: e.Value})
		}
	}
	return out
}

// save writes m beside the jar and renames it into place, so a reader never
// sees half a file and the secret is never world-readable.
func (j *FileJar) save(m map[string][]JarEntry) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(j.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.Write(j.Path, b, 0o600)
}

// ReadLocalCookie reads the daemon's local auth cookie from file when target is
// an HTTP(S) address on this machine (loopback or localhost) and the file is
// readable (root or the daemon's user); otherwise it answers "". The unix
// socket needs none: its peer credentials decide, uploads included, since
// they go by HTTP over the same socket. Every frontend finds the cookie here.
func ReadLocalCookie(target, file string) string {
	if file == "" || !strings.HasPrefix(target, "http") {
		return ""
	}
	u, err := url.Parse(target)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
