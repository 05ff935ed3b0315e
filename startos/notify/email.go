// Package notify sends notifications off the box: by email through the
// owner's SMTP server and as JSON to the owner's webhooks. Raising a
// notification never waits for either: each channel has a bounded queue
// and one worker; a full queue drops and counts, as the logger does, and
// each delivery is retried with a bounded backoff.
package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// DefaultSMTPTimeout bounds one whole SMTP conversation: dial, TLS,
// authentication and the message.
const DefaultSMTPTimeout = 30 * time.Second

// DefaultEmailLevels are the levels emailed when the owner chose none.
var DefaultEmailLevels = []model.NotificationLevel{model.NotificationWarning, model.NotificationError}

// Mail is one message to send through SMTP.
type Mail struct {
	Host, From, To, Username, Password, Security string
	Port                                         uint16
	Subject, Body                                string
	// RootCAs verifies the server's certificate; nil means the system's.
	RootCAs *x509.CertPool
	// Timeout bounds the conversation; 0 means DefaultSMTPTimeout.
	Timeout time.Duration
	// Date is the Date header; zero means now.
	Date time.Time
}

func invalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidRequest)...)
}

// hasControl reports a control character (CR and LF included: a header
// or SMTP command must not be split).
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// checkAddress accepts one bare address (user@domain), no display name.
func checkAddress(what, a string) error {
	if a == "" {
		return invalid("smtp %s: empty", what)
	}
	if len(a) > 254 || hasControl(a) {
		return invalid("smtp %s %q: not one email address", what, a)
	}
	p, err := mail.ParseAddress(a)
	if err != nil || p.Address != a || p.Name != "" {
		return invalid("smtp %s %q: not one bare email address (user@domain)", what, a)
	}
	return nil
}

// CheckSMTP validates the settings of server.set-smtp and test-smtp.
func CheckSMTP(v model.SMTPValue) error {
	h := v.Host
	switch {
	case h == "":
		return invalid("smtp host: empty")
	case len(h) > 253 || hasControl(h) || strings.ContainsAny(h, " /@:[]") && net.ParseIP(h) == nil:
		return invalid("smtp host %q: a host name or IP address, without port or scheme", h)
	}
	if net.ParseIP(h) == nil {
		for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
			if label == "" || len(label) > 63 {
				return invalid("smtp host %q: not a host name", h)
			}
			for _, r := range label {
				if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
					return invalid("smtp host %q: not a host name (letters, digits, hyphens and dots)", h)
				}
			}
		}
	}
	if v.Port == 0 {
		return invalid("smtp port: 0; usually 587 (starttls) or 465 (tls)")
	}
	if v.Security != model.SMTPSecurityStartTLS && v.Security != model.SMTPSecurityTLS {
		return invalid("smtp security %q: want %q or %q", v.Security, model.SMTPSecurityStartTLS, model.SMTPSecurityTLS)
	}
	if err := checkAddress("from", v.From); err != nil {
		return err
	}
	if v.To != "" {
		if err := checkAddress("to", v.To); err != nil {
			return err
		}
	}
	if len(v.Username) > 256 || hasControl(v.Username) || !utf8.ValidString(v.Username) {
		return invalid("smtp username: at most 256 characters, no control characters")
	}
	if v.Password != nil && (len(*v.Password) > 1024 || hasControl(*v.Password)) {
		return invalid("smtp password: at most 1024 bytes, no control characters")
	}
	return CheckLevels(v.NotifyLevels)
}

// CheckLevels accepts notification levels, each once.
func CheckLevels(ls []model.NotificationLevel) error {
	seen := map[model.NotificationLevel]bool{}
	for _, l := range ls {
		switch l {
		case model.NotificationSuccess, model.NotificationInfo, model.NotificationWarning, model.NotificationError:
		default:
			return invalid("notification level %q: want success, info, warning or error", l)
		}
		if seen[l] {
			return invalid("notification level %q given twice", l)
		}
		seen[l] = true
	}
	return nil
}

// Compose renders the message: headers (the subject encoded when not
// ASCII), then the body with CRLF line ends.
func Compose(m Mail) []byte {
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	domain := m.From[strings.LastIndexByte(m.From, '@')+1:]
	subject := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, m.Subject)
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", m.From)
	fmt.Fprintf(&b, "To: %s\r\n", m.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\r", "\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	if !strings.HasSuffix(body, "\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// Send delivers m. The whole conversation has one deadline; the server's
// certificate is verified (TLS from the start, or STARTTLS, which is
// required: a server that does not offer it is refused rather than sent
// the password in the clear).
func Send(ctx context.Context, m Mail) error {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	addr := net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port)))
	tlsCfg := &tls.Config{ServerName: m.Host, RootCAs: m.RootCAs, MinVersion: tls.VersionTLS12}
	var (
		conn net.Conn
		err  error
	)
	d := &net.Dialer{}
	if m.Security == model.SMTPSecurityTLS {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp %s: connect: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	// Cancelling ctx (the daemon closing) ends the conversation too.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	c, err := smtp.NewClient(conn, m.Host)
	if err != nil {
		return fmt.Errorf("smtp %s: greeting: %w", addr, err)
	}
	defer c.Close()
	if m.Security == model.SMTPSecurityStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp %s: the server does not offer STARTTLS; use security \"tls\" or another server", addr)
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return fmt.Errorf("smtp %s: starttls: %w", addr, err)
		}
	}
	if m.Username != "" || m.Password != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("smtp %s: the server offers no authentication, but a username is set", addr)
		}
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, m.Host)); err != nil {
			return fmt.Errorf("smtp %s: authentication refused: %w", addr, err)
		}
	}
	if err := c.Mail(m.From); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", addr, err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp %s: RCPT TO: %w", addr, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(Compose(m)); err != nil {
		return fmt.Errorf("smtp %s: message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: message refused: %w", addr, err)
	}
	if err := c.Quit(); err != nil && !errors.Is(err, net.ErrClosed) {
		// The message was accepted; a failed QUIT changes nothing.
		return nil
	}
	return nil
}

// NotificationMail is the subject and body of the email for n.
func NotificationMail(box string, n model.Notification) (subject, body string) {
	subject = fmt.Sprintf("[%s] %s: %s", box, strings.ToUpper(string(n.Level)), n.Title)
	var b strings.Builder
	b.WriteString(n.Message)
	b.WriteString("\n\n")
	if n.PackageID != "" {
		fmt.Fprintf(&b, "Service: %s\n", n.PackageID)
	}
	fmt.Fprintf(&b, "Level: %s\nTime: %s\nNotification: #%d on %s\n", n.Level, n.CreatedAt.UTC().Format(time.RFC3339), n.ID, box)
	return subject, b.String()
}
