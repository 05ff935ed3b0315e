package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
)

// FetchOptions shape Fetch.
type FetchOptions struct {
	// Client makes the request; default a client with no proxy. Its
	// CheckRedirect is replaced by the redirect rule below.
	Client *http.Client
	// Timeout bounds the whole fetch, a stalled body included; default 30 s.
	Timeout time.Duration
	// MaxSize bounds the body; default MaxIndexSize.
	MaxSize int64
	// AllowRedirectsOffHost lets a redirect leave the registry's host.
	AllowRedirectsOffHost bool
}

// IndexURL is the index file's URL for a registry URL: the URL itself when
// it names a .json file, else <url>/index.json.
func IndexURL(registry string) (string, error) {
	u, err := url.Parse(registry)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("registry url %q: want an http:// or https:// URL without credentials: %w", clip(registry), errdefs.ErrInvalidRequest)
	}
	if strings.HasSuffix(u.Path, ".json") {
		return u.String(), nil
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + IndexFile
	return u.String(), nil
}

// Fetch downloads rawURL (an index), refusing a redirect off its host, a
// body over MaxSize and a fetch that outlasts Timeout.
func Fetch(ctx context.Context, rawURL string, o FetchOptions) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url %q: want an http:// or https:// URL: %w", clip(rawURL), errdefs.ErrInvalidRequest)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxSize <= 0 {
		o.MaxSize = MaxIndexSize
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: o.Timeout}}
	if o.Client != nil {
		c := *o.Client
		client = &c
	}
	client.CheckRedirect = RedirectPolicy(u.Host, o.AllowRedirectsOffHost)
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("url %q: %v: %w", clip(rawURL), err, errdefs.ErrInvalidRequest)
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("fetching %s: no answer within %s: %w", u.Redacted(), o.Timeout, errdefs.ErrTimeout)
		}
		return nil, fmt.Errorf("fetching %s: %w: %w", u.Redacted(), err, errdefs.ErrNetwork)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s: %w", u.Redacted(), resp.Status, errdefs.ErrNetwork)
	}
	if resp.ContentLength > o.MaxSize {
		return nil, fail(ErrTooLarge, errdefs.ErrRegistry, "%s announces %d bytes, over the %d-byte limit", u.Redacted(), resp.ContentLength, o.MaxSize)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, o.MaxSize+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("fetching %s: stalled after %d bytes; gave up after %s: %w", u.Redacted(), len(data), o.Timeout, errdefs.ErrTimeout)
		}
		return nil, fmt.Errorf("fetching %s after %d bytes: %v: %w", u.Redacted(), len(data), err, errdefs.ErrNetwork)
	}
	if int64(len(data)) > o.MaxSize {
		return nil, fail(ErrTooLarge, errdefs.ErrRegistry, "%s is over the %d-byte limit", u.Redacted(), o.MaxSize)
	}
	if resp.ContentLength >= 0 && int64(len(data)) != resp.ContentLength {
		return nil, fmt.Errorf("fetching %s: got %d of the %d bytes announced: %w", u.Redacted(), len(data), resp.ContentLength, errdefs.ErrNetwork)
	}
	return data, nil
}

// RedirectPolicy is an http.Client CheckRedirect that follows at most 5
// redirects and, unless allowOffHost, only to host itself.
func RedirectPolicy(host string, allowOffHost bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return fmt.Errorf("more than 5 redirects")
		}
		if !allowOffHost && !strings.EqualFold(req.URL.Host, host) {
			return fmt.Errorf("redirect to %s leaves the registry's host %s (refused unless redirects off the host are allowed): %w", req.URL.Redacted(), host, errdefs.ErrRegistry)
		}
		return nil
	}
}
