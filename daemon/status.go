package daemon

import (
	"context"
	"fmt"
	"os"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

// status is what GET /v1/status answers.
func (d *daemon) status(ctx context.Context) (*api.Status, error) {
	stats, err := d.queue.Stats(ctx)
	if err != nil {
		return nil, err
	}
	cfg := d.config()
	ps := d.pool.Stats()
	now := time.Now()
	queues := map[string]*api.QueueStatus{}
	get := func(name string) *api.QueueStatus {
		if queues[name] == nil {
			queues[name] = &api.QueueStatus{Counts: map[kilntype.State]int{}}
		}
		return queues[name]
	}
	for name, q := range cfg.Queues {
		get(name).Concurrency = q.Concurrency
	}
	for name, st := range stats {
		qs := get(name)
		qs.Counts = st.Counts
		qs.Paused = st.Paused
		if !st.OldestQueued.IsZero() {
			qs.OldestQueuedAgeS = now.Sub(st.OldestQueued).Seconds()
		}
	}
	for name, r := range ps.SucceededPerSec {
		get(name).SucceededPerSec = r
	}
	for name, r := range ps.FailedPerSec {
		get(name).FailedPerSec = r
	}
	for _, name := range ps.HeldByRate {
		get(name).HeldByRate = true
	}
	if dq, ok := d.queue.(brokerDepths); ok {
		if depths, err := dq.Depths(); err == nil {
			for name, n := range depths {
				get(name).BrokerReady = &n
			}
		}
	}
	return &api.Status{
		Version: d.opts.Version, PID: os.Getpid(), StartedAt: d.started, Config: cfg.Source,
		Queues: queues, Running: ps.Running, Succeeded: ps.Succeeded, Failed: ps.Failed, Purged: d.purged.Load(),
		Broker: d.brokerStatus(), Names: cfg.names(),
	}, nil
}

// statusLine is the one-line summary for systemd's STATUS=.
func (d *daemon) statusLine(ctx context.Context) string {
	s, err := d.status(ctx)
	if err != nil {
		return "status unavailable: " + err.Error()
	}
	var queued, dead int
	for _, q := range s.Queues {
		queued += q.Counts[kilntype.StateQueued] + q.Counts[kilntype.StateRetrying] + q.Counts[kilntype.StateScheduled]
		dead += q.Counts[kilntype.StateDead]
	}
	line := fmt.Sprintf("%d running, %d queued, %d dead", s.Running, queued, dead)
	if s.Broker != "" && s.Broker != "broker connected" {
		line = s.Broker + "; " + line
	}
	return line
}

// brokerDepths is what a backend on a broker answers about its queues.
type brokerDepths interface {
	Depths() (map[string]int, error)
}
