package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/model"
)

// DefaultWebhookTimeout bounds one webhook request, answer included.
const DefaultWebhookTimeout = 10 * time.Second

// Webhook headers: the Unix time of the delivery, and
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
const (
	SignatureHeader = "X-StartOS-Signature"
	TimestampHeader = "X-StartOS-Timestamp"
)

// maxWebhookAnswer is how much of an answer is read (and thrown away).
const maxWebhookAnswer = 64 << 10

// maxRedirects bounds redirects, which must stay on the same host.
const maxRedirects = 3

// Webhook is one destination as the dispatcher needs it.
type Webhook struct {
	ID     string
	URL    string
	Token  string // sent as "Authorization: Bearer <token>" when set
	Secret string // HMAC key of the signature header
	Levels []model.NotificationLevel
}

// WebhookPayload is the JSON body. title, message and priority (1-5, as
// ntfy; Gotify reads it too) are what push services read.
type WebhookPayload struct {
	Box       string                  `json:"box"`
	ID        uint32                  `json:"id"`
	Level     model.NotificationLevel `json:"level"`
	Title     string                  `json:"title"`
	Message   string                  `json:"message"`
	Priority  int                     `json:"priority"`
	PackageID string                  `json:"packageId,omitempty"`
	Code      uint32                  `json:"code"`
	CreatedAt time.Time               `json:"createdAt"`
}

func priority(l model.NotificationLevel) int {
	switch l {
	case model.NotificationError:
		return 5
	case model.NotificationWarning:
		return 4
	case model.NotificationSuccess:
		return 2
	default:
		return 3
	}
}

// CheckWebhookURL accepts an absolute http or https URL with a host and
// without credentials or a fragment.
func CheckWebhookURL(raw string) (*url.URL, error) {
	if len(raw) > 2048 || hasControl(raw) {
		return nil, invalid("webhook url: at most 2048 characters, no control characters")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, invalid("webhook url %q: %v", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, invalid("webhook url %q: the scheme must be http or https", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, invalid("webhook url %q: no host", raw)
	case u.User != nil:
		return nil, invalid("webhook url %q: credentials in the URL; use the token instead", raw)
	case u.Fragment != "":
		return nil, invalid("webhook url %q: a fragment is never sent; remove it", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, invalid("webhook url %q: bad port", raw)
		}
	}
	return u, nil
}

// Sign is the signature header's value for body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// webhookClient is an HTTP client for hostile URLs: one deadline for the
// whole exchange, no proxy from the environment, redirects only to the same
// host and scheme (at most maxRedirects).
func (d *Dispatcher) webhookClient(origin *url.URL) *http.Client {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: d.opts.WebhookTimeout}).DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: d.opts.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    d.opts.WebhookTimeout,
		ResponseHeaderTimeout:  d.opts.WebhookTimeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableKeepAlives:      true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   d.opts.WebhookTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != origin.Scheme || !strings.EqualFold(req.URL.Host, origin.Host) {
				return fmt.Errorf("redirect to another host or scheme (%s) refused", req.URL.Redacted())
			}
			return nil
		},
	}
}

// post sends n to w once.
func (d *Dispatcher) post(ctx context.Context, w Webhook, box string, n model.Notification) error {
	u, err := CheckWebhookURL(w.URL)
	if err != nil {
		return err
	}
	body, err := json.Marshal(WebhookPayload{Box: box, ID: n.ID, Level: n.Level, Title: n.Title, Message: n.Message,
		Priority: priority(n.Level), PackageID: n.PackageID, Code: n.Code, CreatedAt: n.CreatedAt})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "startos-notify")
	req.Header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	if w.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(w.Secret, ts, body))
	}
	if w.Token != "" {
		req.Header.Set("Authorization", "Bearer "+w.Token)
	}
	client := d.webhookClient(u)
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a secret path; it is logged by id
		}
		return fmt.Errorf("webhook %s: %w", w.ID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: answered %s", w.ID, resp.Status)
	}
	return nil
}

// Test sends one notification to w now, without queue or retry, for
// server.webhook.test.
func (d *Dispatcher) Test(ctx context.Context, w Webhook, box string, n model.Notification) error {
	return d.post(ctx, w, box, n)
}
