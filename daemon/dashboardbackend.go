package daemon

import (
	"context"
	"log/slog"

	"kiln/api"
	"kiln/daemon/chartstore"
	"kiln/daemon/dashboard"
	"kiln/worker"
)

// dashboardBackend is the dashboard's view of the daemon: the same store,
// pool and config the control API uses.
type dashboardBackend struct{ d *daemon }

func (b dashboardBackend) Status(ctx context.Context) (*api.Status, error) { return b.d.status(ctx) }

func (b dashboardBackend) List(ctx context.Context, queue string, state worker.State, limit int) ([]*worker.JobRecord, error) {
	return b.d.queue.List(ctx, queue, state, limit)
}

func (b dashboardBackend) Job(ctx context.Context, id string) (*worker.JobRecord, error) {
	return b.d.queue.Get(ctx, id)
}

// Outputs asks the job's kind, which alone knows what its jobs write.
func (b dashboardBackend) Outputs(j *worker.JobRecord) (string, []worker.OutputFile) {
	return b.d.outputs(j)
}

// Describe asks the job's kind too.
func (b dashboardBackend) Describe(j *worker.JobRecord) worker.JobDescription {
	if k, ok := b.d.kinds[j.Type].(worker.JobDescriber); ok {
		return k.Describe(j)
	}
	return worker.JobDescription{}
}

// Progress asks the pool, which holds it while the job runs.
func (b dashboardBackend) Progress(id string) (worker.Progress, bool) { return b.d.pool.Progress(id) }

func (b dashboardBackend) Pause(ctx context.Context, queue string) error {
	if _, ok := b.d.config().Queues[queue]; !ok {
		return unknownQueue(b.d.config(), queue)
	}
	return b.d.queue.Pause(ctx, queue)
}

func (b dashboardBackend) Resume(ctx context.Context, queue string) error {
	if _, ok := b.d.config().Queues[queue]; !ok {
		return unknownQueue(b.d.config(), queue)
	}
	return b.d.queue.Resume(ctx, queue)
}

func (b dashboardBackend) Retry(ctx context.Context, id string) error {
	_, err := b.d.queue.Retry(ctx, id)
	return err
}

func (b dashboardBackend) RetryDead(ctx context.Context, queue string) (int, error) {
	return b.d.queue.RetryAll(ctx, queue)
}

func (b dashboardBackend) PurgeDead(ctx context.Context, queue string) (int, error) {
	return b.d.queue.Purge(ctx, queue, worker.StateDead, 0)
}

func (b dashboardBackend) Cancel(ctx context.Context, id string) error {
	j, err := b.d.queue.Cancel(ctx, id)
	if err == nil && j.State == worker.StateRunning {
		b.d.pool.Cancel(j.ID)
	}
	return err
}

// Charts are this host's store's, or those of a host that keeps them.
func (b dashboardBackend) Charts(ctx context.Context, span chartstore.Span) (*chartstore.Snapshot, error) {
	return b.d.chartsOf(ctx, span)
}

func (b dashboardBackend) QueueRate(queue string) worker.Rate {
	return b.d.config().Queues[queue].Rate
}

func (b dashboardBackend) LastEventID(ctx context.Context) uint64 {
	if l := b.d.eventLog(); l != nil {
		if page, err := l.Events(ctx, 0, worker.EventFilter{}, 0); err == nil {
			return page.Last
		}
	}
	return 0
}

// Authenticate checks a login through the login limiter, against the
// tokens in effect.
func (b dashboardBackend) Authenticate(name, secret, remote string) (dashboard.Login, error) {
	h := b.d.http
	if h == nil {
		return dashboard.Login{}, dashboard.ErrLoginRefused
	}
	c, err := h.logins.attempt(name, remote, func() *credential { return h.tokens.Load().login(name, secret) })
	if err != nil {
		return dashboard.Login{}, err
	}
	scopes := make([]string, len(c.scopes))
	for i, s := range c.scopes {
		scopes[i] = string(s)
	}
	return dashboard.Login{User: c.name, Scopes: scopes, Credential: c.key}, nil
}

func (b dashboardBackend) Current(l dashboard.Login) bool {
	return b.d.http != nil && b.d.http.tokens.Load().keeps(l.Credential, scopesOf(l.Scopes))
}

func (b dashboardBackend) LoginAttr(name string) slog.Attr {
	if b.d.http == nil {
		return slog.Attr{}
	}
	return b.d.http.logins.logAttr(name, b.d.http.tokens.Load())
}
