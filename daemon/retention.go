package daemon

import (
	"context"

	"kiln/worker"
)

// retentionRunner deletes finished jobs past their keep time in the
// background, one run at a time: a run that takes longer than the period
// is not stacked on.
type retentionRunner struct {
	d    *daemon
	idle chan struct{}
}

func newRetentionRunner(d *daemon) *retentionRunner {
	r := &retentionRunner{d: d, idle: make(chan struct{}, 1)}
	r.idle <- struct{}{}
	return r
}

func (r *retentionRunner) runUnlessRunning(ctx context.Context) {
	select {
	case <-r.idle:
		go func() {
			n := worker.EnforceRetention(ctx, r.d.queue, r.d.config().Queues, r.d.log)
			r.d.purged.Add(int64(n))
			if t, ok := any(r.d.queue).(interface{ TrimEvents(context.Context) error }); ok {
				if err := t.TrimEvents(ctx); err != nil {
					r.d.log.Error("retention: trimming the event log failed", "err", err)
				}
			}
			r.idle <- struct{}{}
		}()
	default:
	}
}
