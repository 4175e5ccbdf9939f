package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"kiln/api"
	"kiln/worker"
	"kiln/worker/webhook"
)

// WebhooksConfig is the [webhooks] table: how the end of jobs in queues or
// pipelines with a notify_url is announced.
type WebhooksConfig struct {
	// SecretFile holds the HMAC-SHA256 key deliveries are signed with; it
	// must not be readable by others.
	SecretFile string   `toml:"secret_file"`
	Timeout    Duration `toml:"timeout"` // per POST
}

// webhookAttempts is the default max_attempts of the _webhooks queue: with
// the default backoff, a receiver may be down for about half an hour.
const webhookAttempts = 10

// notifyConfigured reports whether any queue or pipeline has a notify_url.
func (c *Config) notifyConfigured() bool {
	for _, q := range c.Queues {
		if q.NotifyURL != "" {
			return true
		}
	}
	for _, p := range c.Pipelines {
		if p.NotifyURL != "" {
			return true
		}
	}
	return false
}

// fillWebhooks adds the _webhooks queue, with more attempts than a job
// queue's default, where a notify_url needs it and the file has none.
func (c *Config) fillWebhooks() {
	if _, ok := c.Queues[webhook.Queue]; !ok && c.notifyConfigured() {
		q := worker.DefaultQueueConfig()
		q.MaxAttempts = webhookAttempts
		c.Queues[webhook.Queue] = q
	}
}

// notifyOnBroker is why a notify_url is refused on the rabbitmq backend.
const notifyOnBroker = "webhooks follow the local backend's event log, which the rabbitmq backend does not keep: bind a queue of your own to the broker's events exchange (<prefix>.events, routing key <queue>.<state>) instead"

func (c *Config) validateWebhooks(report func(key, msg string)) {
	check := func(key, u string) {
		if err := webhook.CheckURL(u); err != nil {
			report(key, err.Error())
		} else if c.Broker.Backend == backendRabbitMQ {
			report(key, notifyOnBroker)
		}
	}
	for _, name := range sortedKeys(c.Queues) {
		if u := c.Queues[name].NotifyURL; u != "" {
			check("queues."+name+".notify_url", u)
		}
	}
	for _, name := range sortedKeys(c.Pipelines) {
		if u := c.Pipelines[name].NotifyURL; u != "" {
			check("pipelines."+name+".notify_url", u)
		}
	}
	if q, ok := c.Queues[webhook.Queue]; ok && q.NotifyURL != "" {
		report("queues."+webhook.Queue+".notify_url", "deliveries are not announced themselves")
	}
	if c.notifyConfigured() && c.Webhooks.SecretFile == "" {
		report("webhooks.secret_file", "must be set when a queue or pipeline has a notify_url: deliveries are signed with its key")
	}
	if c.Webhooks.Timeout < 0 {
		report("webhooks.timeout", "must not be negative")
	}
}

// webhookCursorName is the file in state_dir that holds the last event
// whose deliveries are queued.
const webhookCursorName = "webhooks.cursor"

func (c *Config) webhookCursorPath() string {
	return filepath.Join(c.Daemon.StateDir, webhookCursorName)
}

// checkWebhookSecret is the start check of secret_file: the key must be
// there, long enough and private, as every delivery reads it.
func (c *Config) checkWebhookSecret(report func(key, msg string)) {
	if c.Webhooks.SecretFile == "" {
		return
	}
	if _, err := webhook.ReadSecret(c.Webhooks.SecretFile); err != nil {
		report("webhooks.secret_file", err.Error())
	}
}

func (d *daemon) webhookSettings() webhook.Settings {
	c := d.config().Webhooks
	return webhook.Settings{SecretFile: c.SecretFile, Timeout: c.Timeout.Std()}
}

// notifyTarget is where a job's end is announced: its kind's answer (an
// image job's pipeline), else its queue's notify_url.
func (d *daemon) notifyTarget(j *worker.JobRecord) string {
	if t, ok := d.kinds[j.Type].(worker.NotifyTarget); ok {
		if u := t.NotifyURL(j); u != "" {
			return u
		}
	}
	return d.config().Queues[j.Queue].NotifyURL
}

// submitDeliveries queues delivery jobs as the API would, in one batch.
// The event ID is each one's unique key, so a delivery queued again after a
// crash is not doubled while the first is pending.
func (d *daemon) submitDeliveries(ctx context.Context, deliveries []webhook.Payload) error {
	now := time.Now()
	jobs := make([]*worker.JobRecord, len(deliveries))
	for i, p := range deliveries {
		payload, err := json.Marshal(p)
		if err != nil {
			return err
		}
		j, err := d.buildJob(api.SubmitRequest{Type: webhook.JobType, Payload: payload, UniqueKey: "event-" + strconv.FormatUint(p.EventID, 10)}, now)
		if err != nil {
			return fmt.Errorf("delivery of event %d: %w", p.EventID, err)
		}
		jobs[i] = j
	}
	_, err := d.queue.Submit(ctx, jobs...)
	return err
}

// startWebhooks follows the event log for the ends that are announced. It
// runs whatever the config says, so that a reload that adds a notify_url
// takes effect at once.
func (d *daemon) startWebhooks() error {
	log := d.eventLog()
	if log == nil {
		return nil
	}
	n := &webhook.Notifier{
		Queue: d.queue, Events: log,
		Target:     d.notifyTarget,
		Enabled:    func() bool { return d.config().notifyConfigured() },
		Submit:     d.submitDeliveries,
		CursorFile: d.config().webhookCursorPath(),
		Log:        d.log,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Run(ctx); err != nil {
			d.log.Error("webhooks stopped; no job ends are announced until a restart", "err", err)
		}
	}()
	d.stopWebhooks = func() { cancel(); <-done }
	return nil
}
