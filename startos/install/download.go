package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
)

// errLocalTarget is why a dial to a loopback, link-local or private address
// was refused.
var errLocalTarget = errors.New("local or private address refused")

// maxRedirects bounds the redirects a download follows.
const maxRedirects = 5

// InstallURL downloads an http(s) URL and installs it (package.install).
//
// Unless the installer was opened with AllowLocalDownloads, every address
// the download dials (after DNS, and after each redirect) must be a public
// one: a package URL must not be a way to probe the box's own ports or its
// LAN. Every failure to download gives the same message, so the answer does
// not tell a refused port from a 403 or a 405.
func (in *Installer) InstallURL(ctx context.Context, rawURL string, opts ...InstallOption) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("package url %q: want an http:// or https:// URL: %w", rawURL, errdefs.ErrInvalidRequest)
	}
	ctx, cancel := context.WithTimeout(ctx, in.httpTime)
	defer cancel()
	o := collect(opts)
	var stall *stallWatch
	if o.stall > 0 {
		stall = newStallWatch(ctx, o.stall)
		defer stall.stop()
		ctx = stall.ctx
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("package url %q: %v: %w", rawURL, err, errdefs.ErrInvalidRequest)
	}
	client := in.downloadClient()
	defer client.CloseIdleConnections()
	if o.redirect != nil {
		client.CheckRedirect = o.redirect
	}
	couldNot := func(detail string) error {
		in.log.Info("package download failed", "url", u.Redacted(), "reason", detail)
		hint := ""
		if !in.allowLocal {
			hint = " (loopback, link-local and private addresses are refused unless startd runs with --allow-local-downloads)"
		}
		return fmt.Errorf("could not download the package from %s%s: %w", u.Redacted(), hint, errdefs.ErrNetwork)
	}
	resp, err := client.Do(req)
	if err != nil {
		if c := cause(ctx); c != nil && !errors.Is(c, context.DeadlineExceeded) {
			return asCancelled(c)
		}
		if errors.Is(err, errdefs.ErrRegistry) { // our own redirect refusal: say why
			return fmt.Errorf("downloading %s: %w", u.Redacted(), err)
		}
		return couldNot(err.Error())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return couldNot(resp.Status)
	}
	var body io.Reader = resp.Body
	if stall != nil {
		body = stall.reader(resp.Body)
	}
	return in.installStream(ctx, PhaseDownloading, body, resp.ContentLength, opts...)
}

// stallWatch cancels a download that delivers no byte for a while, with
// an error that says so (the overall deadline is far longer).
type stallWatch struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	d      time.Duration
}

func newStallWatch(parent context.Context, d time.Duration) *stallWatch {
	ctx, cancel := context.WithCancelCause(parent)
	w := &stallWatch{ctx: ctx, cancel: cancel, d: d}
	w.timer = time.AfterFunc(d, func() {
		cancel(fmt.Errorf("the download stalled: no data for %s: %w", d, errdefs.ErrTimeout))
	})
	return w
}

func (w *stallWatch) stop() {
	w.timer.Stop()
	w.cancel(nil)
}

func (w *stallWatch) reader(r io.Reader) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		n, err := r.Read(p)
		if n > 0 {
			w.timer.Reset(w.d)
		}
		if err != nil {
			// The download is over; the install that follows (image
			// loads, a migration) may be silent for long.
			w.timer.Stop()
		}
		return n, err
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// downloadClient is an HTTP client whose every connection goes through
// in.dialCheck. No proxy is used: through one, the check would see only the
// proxy's address.
func (in *Installer) downloadClient() *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		return in.dialCheck(address)
	}}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			return nil
		},
	}
}

// checkPublic refuses a dial to an address that is not a public unicast
// one, unless local downloads are allowed.
func (in *Installer) checkPublic(address string) error {
	if in.allowLocal {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%s: %w", address, errLocalTarget)
	}
	if !PublicAddr(ip) {
		return fmt.Errorf("%s: %w", address, errLocalTarget)
	}
	return nil
}

// sharedSpace is 100.64.0.0/10 (carrier-grade NAT), private in practice.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// PublicAddr reports whether ip is a public unicast address: not loopback,
// link-local, private (RFC 1918, ULA), shared (CGNAT), unspecified or
// multicast.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid(), ip.IsUnspecified(), ip.IsLoopback(), ip.IsPrivate(),
		ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsMulticast(),
		ip.Is4() && sharedSpace.Contains(ip):
		return false
	}
	return true
}
