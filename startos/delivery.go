package startos

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/notify"
)

// maxWebhooks bounds the webhooks an owner may configure.
const maxWebhooks = 16

// openNotifier starts the delivery of notifications off the box.
func (s *Server) openNotifier() {
	opts := s.cfg.Delivery
	opts.Logger = s.log.Named("notify")
	opts.Settings = s.deliverySettings
	s.notifier = notify.New(opts)
}

// deliverySettings reads the owner's choices from the document.
func (s *Server) deliverySettings() notify.Settings {
	_, doc := s.db.Read()
	info := doc.Public.ServerInfo
	st := notify.Settings{Box: info.Name}
	if st.Box == "" {
		st.Box = info.Hostname
	}
	if m := info.SMTP; m != nil {
		st.Email = &notify.EmailTarget{Host: m.Host, Port: m.Port, From: m.From, To: m.To, Username: m.Username,
			Password: doc.Private.SMTPPassword, Security: m.Security, Levels: m.NotifyLevels}
	}
	ids := sortedKeys(doc.Private.Webhooks)
	for _, id := range ids {
		w := doc.Private.Webhooks[id]
		st.Webhooks = append(st.Webhooks, webhookTarget(w))
	}
	return st
}

func webhookTarget(w model.StoredWebhook) notify.Webhook {
	return notify.Webhook{ID: w.ID, URL: w.URL, Token: w.Token, Secret: w.Secret, Levels: w.Levels}
}

// raise hands a recorded notification to the delivery channels.
func (s *Server) raise(id uint32, in model.NotificationInput) {
	if s.notifier == nil || id == 0 {
		return
	}
	s.notifier.Raise(model.Notification{ID: id, PackageID: in.PackageID, CreatedAt: s.cfg.Now().UTC(), Code: in.Code,
		Level: in.Level, Title: in.Title, Message: in.Message, Data: in.Data})
}

// DeliveryStats counts notifications emailed and sent to webhooks.
func (s *Server) DeliveryStats(context.Context) ([]model.DeliveryStats, error) {
	return s.notifier.Stats(), nil
}

// SetSMTP is server.set-smtp: the outgoing mail server. The password goes
// to the private document only; a nil password keeps the stored one.
func (s *Server) SetSMTP(ctx context.Context, v model.SMTPValue) (model.Empty, error) {
	if err := notify.CheckSMTP(v); err != nil {
		return model.Empty{}, err
	}
	levels := v.NotifyLevels
	if len(levels) == 0 {
		levels = notify.DefaultEmailLevels
	}
	_, err := s.db.Mutate(ctx, func(d *model.Document) error {
		if v.Password != nil {
			d.Private.SMTPPassword = *v.Password
		}
		d.Public.ServerInfo.SMTP = &model.SMTPSettings{Host: v.Host, Port: v.Port, From: v.From, Username: v.Username,
			Security: v.Security, To: v.To, NotifyLevels: append([]model.NotificationLevel(nil), levels...),
			HasPassword: d.Private.SMTPPassword != ""}
		return nil
	})
	return model.Empty{}, err
}

// ClearSMTP is server.clear-smtp.
func (s *Server) ClearSMTP(ctx context.Context) (model.Empty, error) {
	_, err := s.db.Mutate(ctx, func(d *model.Document) error {
		d.Public.ServerInfo.SMTP = nil
		d.Private.SMTPPassword = ""
		return nil
	})
	return model.Empty{}, err
}

// TestSMTP is server.test-smtp: send a test mail with the given settings
// now, and say why it failed. An empty host uses the saved settings (with
// their password), so an owner can check what they set.
func (s *Server) TestSMTP(ctx context.Context, p model.SMTPTestParams) (model.Empty, error) {
	v := model.SMTPValue{Host: p.Host, Port: p.Port, From: p.From, Username: p.Username, Password: p.Password, Security: p.Security, To: p.To}
	_, doc := s.db.Read()
	if v.Host == "" {
		saved := doc.Public.ServerInfo.SMTP
		if saved == nil {
			return model.Empty{}, fmt.Errorf("smtp test: no settings given and none saved (server.set-smtp): %w", errdefs.ErrInvalidRequest)
		}
		to := v.To
		v = model.SMTPValue{Host: saved.Host, Port: saved.Port, From: saved.From, Username: saved.Username,
			Security: saved.Security, To: saved.To}
		if to != "" {
			v.To = to
		}
	}
	if v.Password == nil {
		pw := doc.Private.SMTPPassword
		v.Password = &pw
	}
	if v.To == "" {
		return model.Empty{}, fmt.Errorf("smtp test: no recipient (to): %w", errdefs.ErrInvalidRequest)
	}
	if err := notify.CheckSMTP(v); err != nil {
		return model.Empty{}, err
	}
	box := doc.Public.ServerInfo.Name
	err := notify.Send(ctx, notify.Mail{Host: v.Host, Port: v.Port, From: v.From, To: v.To, Username: v.Username,
		Password: *v.Password, Security: v.Security, Subject: "[" + box + "] Test email",
		Body:    "This is a test email from your StartOS server " + box + ".\nIf you can read it, email notifications will reach you.\n",
		RootCAs: s.cfg.Delivery.RootCAs, Timeout: s.cfg.Delivery.SMTPTimeout})
	if err != nil {
		return model.Empty{}, fmt.Errorf("%w: %w", err, errdefs.ErrSMTP)
	}
	return model.Empty{}, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// WebhookAdd is server.webhook.add. The answer holds the signing secret,
// shown this once.
func (s *Server) WebhookAdd(ctx context.Context, p model.WebhookAddParams) (model.WebhookAdded, error) {
	if _, err := notify.CheckWebhookURL(p.URL); err != nil {
		return model.WebhookAdded{}, err
	}
	if len(p.Token) > 1024 || hasControlChar(p.Token) {
		return model.WebhookAdded{}, fmt.Errorf("webhook token: at most 1024 bytes, no control characters: %w", errdefs.ErrInvalidRequest)
	}
	if err := notify.CheckLevels(p.Levels); err != nil {
		return model.WebhookAdded{}, err
	}
	id, err := randomHex(6)
	if err != nil {
		return model.WebhookAdded{}, err
	}
	sec := make([]byte, 32)
	if _, err := rand.Read(sec); err != nil {
		return model.WebhookAdded{}, err
	}
	w := model.StoredWebhook{
		Webhook: model.Webhook{ID: id, URL: p.URL, Levels: append([]model.NotificationLevel{}, p.Levels...), HasToken: p.Token != "",
			CreatedAt: s.cfg.Now().UTC()},
		Token: p.Token, Secret: base64.RawURLEncoding.EncodeToString(sec),
	}
	if _, err := s.db.Mutate(ctx, func(d *model.Document) error {
		if len(d.Private.Webhooks) >= maxWebhooks {
			return fmt.Errorf("webhooks: already %d; remove one first: %w", maxWebhooks, errdefs.ErrInvalidRequest)
		}
		m := make(map[string]model.StoredWebhook, len(d.Private.Webhooks)+1)
		for k, v := range d.Private.Webhooks {
			m[k] = v
		}
		m[id] = w
		d.Private.Webhooks = m
		return nil
	}); err != nil {
		return model.WebhookAdded{}, err
	}
	return model.WebhookAdded{Webhook: w.Webhook, Secret: w.Secret}, nil
}

// WebhookList is server.webhook.list, oldest first, without tokens or
// secrets.
func (s *Server) WebhookList(context.Context) ([]model.Webhook, error) {
	_, doc := s.db.Read()
	out := []model.Webhook{}
	for _, w := range doc.Private.Webhooks {
		out = append(out, w.Webhook)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// WebhookRemove is server.webhook.remove.
func (s *Server) WebhookRemove(ctx context.Context, p model.WebhookIDParams) (model.Empty, error) {
	_, err := s.db.Mutate(ctx, func(d *model.Document) error {
		if _, ok := d.Private.Webhooks[p.ID]; !ok {
			return fmt.Errorf("no webhook has id %q: %w", p.ID, errdefs.ErrNotFound)
		}
		m := make(map[string]model.StoredWebhook, len(d.Private.Webhooks))
		for k, v := range d.Private.Webhooks {
			if k != p.ID {
				m[k] = v
			}
		}
		d.Private.Webhooks = m
		return nil
	})
	return model.Empty{}, err
}

// WebhookTest is server.webhook.test: one test notification to the
// webhook now, without retries; the error says what went wrong.
func (s *Server) WebhookTest(ctx context.Context, p model.WebhookIDParams) (model.Empty, error) {
	_, doc := s.db.Read()
	w, ok := doc.Private.Webhooks[p.ID]
	if !ok {
		return model.Empty{}, fmt.Errorf("no webhook has id %q: %w", p.ID, errdefs.ErrNotFound)
	}
	st := s.deliverySettings()
	n := model.Notification{Level: model.NotificationInfo, Title: "Test notification", CreatedAt: s.cfg.Now().UTC(),
		Message: "This is a test notification from your StartOS server " + st.Box + "."}
	if err := s.notifier.Test(ctx, webhookTarget(w), st.Box, n); err != nil {
		return model.Empty{}, fmt.Errorf("%w: %w", err, errdefs.ErrNetwork)
	}
	return model.Empty{}, nil
}

func hasControlChar(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
