package model

import "time"

// MetricsToken is a bearer token that lets a Prometheus scraper read
// GET /metrics; the token itself is shown once, when created.
type MetricsToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// StoredMetricsToken is a MetricsToken with the SHA-256 of its secret, as
// the private document keeps it.
type StoredMetricsToken struct {
	MetricsToken
	Hash string `json:"hash"`
}

// MetricsTokenCreateParams is server.metrics-token.create.
type MetricsTokenCreateParams struct {
	// Name says what scrapes with the token ("prometheus on nas").
	Name string `json:"name"`
}

// MetricsTokenCreated is the answer of server.metrics-token.create: the
// only time the secret is shown.
type MetricsTokenCreated struct {
	MetricsToken
	Token string `json:"token"`
}

// MetricsTokenRevokeParams is server.metrics-token.revoke.
type MetricsTokenRevokeParams struct {
	ID string `json:"id"`
}

// SMTP connection security (StartOS names): STARTTLS on a plain connection
// (usually port 587), or TLS from the first byte (usually 465).
const (
	SMTPSecurityStartTLS = "starttls"
	SMTPSecurityTLS      = "tls"
)

// SMTPValue is server.set-smtp (StartOS's SmtpValue) and server.test-smtp.
// To and NotifyLevels are ours: where notifications are emailed, and which
// levels are.
type SMTPValue struct {
	Host     string `json:"host"`
	Port     uint16 `json:"port"`
	From     string `json:"from"`
	Username string `json:"username"`
	// Password: nil keeps the one stored (set-smtp) or uses it (test-smtp);
	// "" means no authentication.
	Password *string `json:"password,omitempty"`
	Security string  `json:"security"`
	// To is the address notifications are emailed to (test-smtp: the test
	// mail's); empty emails none.
	To string `json:"to,omitempty"`
	// NotifyLevels are the notification levels emailed; empty means
	// warning and error.
	NotifyLevels []NotificationLevel `json:"notifyLevels,omitempty"`
}

// SMTPSettings is serverInfo.smtp: the settings without the password,
// which only the private document holds.
type SMTPSettings struct {
	Host         string              `json:"host"`
	Port         uint16              `json:"port"`
	From         string              `json:"from"`
	Username     string              `json:"username"`
	Security     string              `json:"security"`
	To           string              `json:"to"`
	NotifyLevels []NotificationLevel `json:"notifyLevels"`
	HasPassword  bool                `json:"hasPassword"`
	// Password is StartOS's field, always null: the password stays in the
	// private document.
	Password *string `json:"password"`
}

// DeliveryStats counts notifications sent off the box, per channel.
type DeliveryStats struct {
	Channel   string `json:"channel"`   // "email" or "webhook"
	Delivered uint64 `json:"delivered"` // deliveries that succeeded
	Failed    uint64 `json:"failed"`    // deliveries given up after every retry
	Dropped   uint64 `json:"dropped"`   // notifications not queued: the queue was full
	Queued    int    `json:"queued"`
}

// Webhook is one owner-configured URL that receives notifications as JSON
// (server.webhook.list); its token and secret are never shown again.
type Webhook struct {
	ID        string              `json:"id"`
	URL       string              `json:"url"`
	Levels    []NotificationLevel `json:"levels"`
	HasToken  bool                `json:"hasToken"`
	CreatedAt time.Time           `json:"createdAt"`
}

// StoredWebhook is a Webhook with its bearer token and signing secret, as
// the private document keeps it.
type StoredWebhook struct {
	Webhook
	Token  string `json:"token,omitempty"`
	Secret string `json:"secret"`
}

// WebhookAddParams is server.webhook.add.
type WebhookAddParams struct {
	URL string `json:"url"`
	// Token, when set, is sent as "Authorization: Bearer <token>" (ntfy,
	// Gotify and most push services take one).
	Token string `json:"token,omitempty"`
	// Levels are the notification levels sent; empty means all.
	Levels []NotificationLevel `json:"levels,omitempty"`
}

// WebhookAdded is the answer of server.webhook.add: the only time the
// signing secret is shown.
type WebhookAdded struct {
	Webhook
	Secret string `json:"secret"`
}

// WebhookIDParams is server.webhook.remove and server.webhook.test.
type WebhookIDParams struct {
	ID string `json:"id"`
}

// SMTPTestParams is server.test-smtp: SMTPValue with every field optional;
// an empty host means the saved settings.
type SMTPTestParams struct {
	Host     string  `json:"host,omitempty"`
	Port     uint16  `json:"port,omitempty"`
	From     string  `json:"from,omitempty"`
	Username string  `json:"username,omitempty"`
	Password *string `json:"password,omitempty"`
	Security string  `json:"security,omitempty"`
	To       string  `json:"to,omitempty"`
}
