package daemon

import (
	"context"

	"kiln/api"
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
	if l, ok := b.d.kinds[j.Type].(worker.OutputLister); ok && j.State == worker.StateSucceeded {
		return l.Outputs(j)
	}
	return "", nil
}

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

func (b dashboardBackend) LastEventID(ctx context.Context) uint64 {
	if l := b.d.eventLog(); l != nil {
		if page, err := l.Events(ctx, 0, worker.EventFilter{}, 0); err == nil {
			return page.Last
		}
	}
	return 0
}

func (b dashboardBackend) Authenticate(name, secret string) (string, []string, bool) {
	if b.d.http == nil {
		return "", nil, false
	}
	c := b.d.http.tokens.Load().login(name, secret)
	if c == nil {
		return "", nil, false
	}
	scopes := make([]string, len(c.scopes))
	for i, s := range c.scopes {
		scopes[i] = string(s)
	}
	return c.name, scopes, true
}
