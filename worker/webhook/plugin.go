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
// effect at once; a backend without an event log has no webhooks. On a
// queue shared by several hosts the log is the fleet's, and it is followed
// by one host at a time, the lead's holder, with a cursor that moves with
// the lead: each event is announced once across the fleet.
func (p *plugin) Run(ctx context.Context) {
	if p.host.Events == nil {
		return
	}
	notifier := func(c Cursor) *Notifier {
		return &Notifier{
			Queue: p.host.Queue, Events: p.host.Events,
			Target:  p.target,
			Enabled: func() bool { return len(p.host.View().NotifyURLs) > 0 },
			Submit:  p.submit,
			Cursor:  c,
			Log:     p.host.Log,
		}
	}
	if p.host.Leader == nil {
		if err := notifier(FileCursor(cursorPath(p.host.View()))).Run(ctx); err != nil {
			p.host.Log.Error("webhooks stopped; no job ends are announced until a restart", "err", err)
		}
		return
	}
	p.host.Leader.Lead(ctx, leadName, func(ctx context.Context, state worker.LeadState) {
		if err := notifier(leadCursor{state}).Run(ctx); err != nil && ctx.Err() == nil {
			p.host.Log.Error("webhooks: the announcer stopped; it starts again under the next lead", "err", err)
		}
	})
}

// leadName is the lead that announces job ends on a shared queue.
const leadName = "webhooks"

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
// doubled while the first is pending; on a shared queue, which has no
// unique keys, it is in the job's ID, and a second job of one ID is the
// same job.
func (p *plugin) submit(ctx context.Context, deliveries []Payload) error {
	jobs := make([]worker.JobRequest, len(deliveries))
	for i, d := range deliveries {
		payload, err := json.Marshal(d)
		if err != nil {
			return err
		}
		jobs[i] = worker.JobRequest{Type: JobType, Payload: payload, UniqueKey: "event-" + strconv.FormatUint(d.EventID, 10)}
		if p.host.View().Shared {
			jobs[i].ID, jobs[i].UniqueKey = "webhook."+strconv.FormatUint(d.EventID, 10), ""
		}
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
