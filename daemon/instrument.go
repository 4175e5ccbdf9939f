package daemon

import (
	"context"

	"kiln/daemon/metrics"
	"kiln/worker"
)

// instrument builds the Prometheus metrics and hooks them into the queue
// store; the pool and the plugins (Host.Observer) are given them as they
// are made.
func (d *daemon) instrument() error {
	d.metrics = metrics.New(d.opts.Version, d.queueStats, d.log)
	if o, ok := d.queue.(worker.CommitObserver); ok {
		o.ObserveCommits(d.metrics.Committed)
	}
	if err := d.metrics.ObserveHeldByRate(d.queuesHeldByRate); err != nil {
		return err
	}
	if b, ok := d.queue.(brokerHealth); ok {
		return d.metrics.ObserveBroker(b.Health)
	}
	return nil
}

// queueStats is the store's per-queue counters, with every configured
// queue present even before its first job.
func (d *daemon) queueStats(ctx context.Context) (map[string]*worker.QueueStats, error) {
	stats, err := d.queue.Stats(ctx)
	if err != nil {
		return nil, err
	}
	for name := range d.config().Queues {
		if stats[name] == nil {
			stats[name] = &worker.QueueStats{Counts: map[worker.State]int{}}
		}
	}
	return stats, nil
}

// queuesHeldByRate says, for every configured queue, whether its rate holds
// its due jobs back on this host: false for all until the pool is made.
func (d *daemon) queuesHeldByRate() map[string]bool {
	held := map[string]bool{}
	for name := range d.config().Queues {
		held[name] = false
	}
	if d.pool == nil {
		return held
	}
	for _, name := range d.pool.Stats().HeldByRate {
		held[name] = true
	}
	return held
}
