package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kiln/worker"
)

// statsTimeout bounds the store read of one scrape.
const statsTimeout = 5 * time.Second

var (
	jobsDesc = prometheus.NewDesc("kiln_jobs",
		"Jobs in the store, by queue and state.", []string{"queue", "state"}, nil)
	pausedDesc = prometheus.NewDesc("kiln_queue_paused",
		"1 while a queue is paused (takes submits, starts no jobs).", []string{"queue"}, nil)
	oldestDesc = prometheus.NewDesc("kiln_queue_oldest_queued_age_seconds",
		"Age of the oldest job waiting in a queue; 0 when none waits.", []string{"queue"}, nil)
)

// jobsCollector reads the store's counters at each scrape rather than
// keeping gauges in step with every change: the store's counters are the
// truth, and reading them costs a few keys, never a scan of the jobs.
type jobsCollector struct {
	stats StatsFunc
	log   *slog.Logger
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- pausedDesc
	ch <- oldestDesc
}

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	stats, err := c.stats(ctx)
	if err != nil {
		c.log.Error("metrics: read queue counters", "err", err)
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	now := time.Now()
	for queue, st := range stats {
		// Every state is exported, zeros too, so that a query over a state
		// finds a series from the start.
		for _, state := range worker.States {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(st.Counts[state]), queue, string(state))
		}
		paused := 0.0
		if st.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, paused, queue)
		age := 0.0
		if !st.OldestQueued.IsZero() {
			age = now.Sub(st.OldestQueued).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, queue)
	}
}
