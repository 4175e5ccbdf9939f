package webhook

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"kiln/worker"
)

// defaultTimeout is [webhooks] timeout where the file gives none.
const defaultTimeout = 10 * time.Second

// Plugin returns the webhook plugin: the [webhooks] table, the _webhooks
// queue a notify_url brings, the delivery kind, and the notifier that
// follows the event log and queues a delivery for each job end announced.
func Plugin() worker.Plugin { return &plugin{} }

type plugin struct {
	host worker.Host
}

var _ worker.Runner = (*plugin)(nil)

func (*plugin) Name() string { return "webhook" }

func (*plugin) NewConfig() worker.PluginConfig {
	c := DefaultConfig()
	return &c
}

func (p *plugin) Start(host worker.Host) ([]worker.Kind, error) {
	p.host = host
	return []worker.Kind{NewKind(func() Settings { return p.config().settings() })}, nil
}

func (p *plugin) config() *Config { return p.host.Config().(*Config) }

// Run follows the event log for the ends that are announced. It runs
// whatever the config says, so that a reload that adds a notify_url takes
// effect at once; a backend without an event log has no webhooks.
func (p *plugin) Run(ctx context.Context) {
	if p.host.Events == nil {
		return
	}
	n := &Notifier{
		Queue: p.host.Queue, Events: p.host.Events,
		Target:     p.target,
		Enabled:    func() bool { return len(p.host.View().NotifyURLs) > 0 },
		Submit:     p.submit,
		CursorFile: cursorPath(p.host.View()),
		Log:        p.host.Log,
	}
	if err := n.Run(ctx); err != nil {
		p.host.Log.Error("webhooks stopped; no job ends are announced until a restart", "err", err)
	}
}

// target is where a job's end is announced: its kind's answer (an image
// job's pipeline), else its queue's notify_url.
func (p *plugin) target(j *worker.JobRecord) string {
	if t, ok := p.host.Kind(j.Type).(worker.NotifyTarget); ok {
		if u := t.NotifyURL(j); u != "" {
			return u
		}
	}
	return p.host.View().Queues[j.Queue].NotifyURL
}

// submit queues delivery jobs as the API would, in one batch. The event ID
// is each one's unique key, so a delivery queued again after a crash is not
// doubled while the first is pending.
func (p *plugin) submit(ctx context.Context, deliveries []Payload) error {
	jobs := make([]worker.JobRequest, len(deliveries))
	for i, d := range deliveries {
		payload, err := json.Marshal(d)
		if err != nil {
			return err
		}
		jobs[i] = worker.JobRequest{Type: JobType, Payload: payload, UniqueKey: "event-" + strconv.FormatUint(d.EventID, 10)}
	}
	return p.host.Submit(ctx, jobs)
}

// Reload refuses a secret_file that a start would refuse: deliveries read
// it from the moment the new config is in effect.
func (p *plugin) Reload(next worker.PluginConfig, problems worker.Problems) []string {
	next.(*Config).CheckStart(nil, problems)
	return nil
}

func (*plugin) Reloaded() {}

// Close has nothing to stop: the notifier ends with Run's context.
func (*plugin) Close() {}
