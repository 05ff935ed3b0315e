package notify

import (
	"context"
	"crypto/x509"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/startos/model"
)

// Options tune a Dispatcher. Zero values take the defaults.
type Options struct {
	Logger hclog.Logger
	// Settings is read when a notification is raised: where it goes.
	Settings func() Settings
	// QueueSize bounds each channel's queue; default 256.
	QueueSize int
	// Attempts is how many times one delivery is tried; default 5.
	Attempts int
	// RetryBase is the first wait after a failure, doubling up to
	// RetryMax; defaults 2 s and 1 min.
	RetryBase, RetryMax time.Duration
	// SMTPTimeout bounds one SMTP conversation; default 30 s.
	SMTPTimeout time.Duration
	// WebhookTimeout bounds one webhook request; default 10 s.
	WebhookTimeout time.Duration
	// RootCAs verifies SMTP and webhook servers; nil means the system's.
	RootCAs *x509.CertPool
}

// Settings are the owner's delivery choices at one moment.
type Settings struct {
	Box      string       // the box's name, in subjects
	Email    *EmailTarget // nil: nothing is emailed
	Webhooks []Webhook
}

// EmailTarget is the SMTP server, the recipient and the levels emailed.
type EmailTarget struct {
	Host, From, To, Username, Password, Security string
	Port                                         uint16
	Levels                                       []model.NotificationLevel
}

// job is one delivery to one destination.
type job struct {
	what    string // for the log: "email to a@b", "webhook 3"
	deliver func(ctx context.Context) error
}

// channel is one way off the box with its own queue and worker, so a slow
// mail server does not hold up webhooks.
type channel struct {
	name                       string
	q                          chan job
	delivered, failed, dropped atomic.Uint64
}

// Dispatcher delivers notifications off the box. Create it with New and
// stop it with Close.
type Dispatcher struct {
	opts     Options
	log      hclog.Logger
	email    *channel
	webhooks *channel
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New starts one worker per channel.
func New(opts Options) *Dispatcher {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.RetryBase, 2*time.Second)
	def(&opts.RetryMax, time.Minute)
	def(&opts.SMTPTimeout, DefaultSMTPTimeout)
	def(&opts.WebhookTimeout, DefaultWebhookTimeout)
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Settings == nil {
		opts.Settings = func() Settings { return Settings{} }
	}
	d := &Dispatcher{opts: opts, log: opts.Logger}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.email = &channel{name: "email", q: make(chan job, opts.QueueSize)}
	d.webhooks = &channel{name: "webhook", q: make(chan job, opts.QueueSize)}
	for _, c := range []*channel{d.email, d.webhooks} {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.work(c)
		}()
	}
	return d
}

// Close stops the workers and waits for them; queued deliveries are
// abandoned (they are in the state document already).
func (d *Dispatcher) Close() {
	d.cancel()
	d.wg.Wait()
}

// Raise queues n for every destination that wants its level. It never
// blocks: a full queue drops the delivery and counts it.
func (d *Dispatcher) Raise(n model.Notification) {
	st := d.opts.Settings()
	if e := st.Email; e != nil && e.To != "" && wants(e.Levels, DefaultEmailLevels, n.Level) {
		subject, body := NotificationMail(st.Box, n)
		m := Mail{Host: e.Host, Port: e.Port, From: e.From, To: e.To, Username: e.Username, Password: e.Password,
			Security: e.Security, Subject: subject, Body: body, RootCAs: d.opts.RootCAs, Timeout: d.opts.SMTPTimeout}
		d.enqueue(d.email, job{what: "email to " + e.To, deliver: func(ctx context.Context) error { return Send(ctx, m) }})
	}
	for _, w := range st.Webhooks {
		if !wants(w.Levels, allLevels, n.Level) {
			continue
		}
		d.enqueue(d.webhooks, job{what: "webhook " + w.ID, deliver: func(ctx context.Context) error {
			return d.post(ctx, w, st.Box, n)
		}})
	}
}

var allLevels = []model.NotificationLevel{model.NotificationSuccess, model.NotificationInfo, model.NotificationWarning, model.NotificationError}

func wants(chosen, def []model.NotificationLevel, l model.NotificationLevel) bool {
	if len(chosen) == 0 {
		chosen = def
	}
	return slices.Contains(chosen, l)
}

func (d *Dispatcher) enqueue(c *channel, j job) {
	select {
	case c.q <- j:
	default:
		// Logged every 100 drops, so a flood does not flood the log.
		if n := c.dropped.Add(1); n%100 == 1 {
			d.log.Warn("notification delivery queue full; dropping", "channel", c.name, "dropped", n)
		}
	}
}

func (d *Dispatcher) work(c *channel) {
	for {
		select {
		case <-d.ctx.Done():
			return
		case j := <-c.q:
			d.deliver(c, j)
		}
	}
}

// deliver tries j up to Attempts times, waiting RetryBase, doubling up to
// RetryMax, between tries.
func (d *Dispatcher) deliver(c *channel, j job) {
	wait := d.opts.RetryBase
	for attempt := 1; ; attempt++ {
		err := j.deliver(d.ctx)
		if err == nil {
			c.delivered.Add(1)
			return
		}
		if d.ctx.Err() != nil {
			return
		}
		if attempt >= d.opts.Attempts {
			c.failed.Add(1)
			d.log.Error("notification not delivered; giving up", "to", j.what, "attempts", attempt, "error", err)
			return
		}
		d.log.Warn("notification delivery failed; retrying", "to", j.what, "attempt", attempt, "in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-d.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, d.opts.RetryMax)
	}
}

// Stats counts each channel's deliveries.
func (d *Dispatcher) Stats() []model.DeliveryStats {
	var out []model.DeliveryStats
	for _, c := range []*channel{d.email, d.webhooks} {
		out = append(out, model.DeliveryStats{Channel: c.name, Delivered: c.delivered.Load(), Failed: c.failed.Load(),
			Dropped: c.dropped.Load(), Queued: len(c.q)})
	}
	return out
}
