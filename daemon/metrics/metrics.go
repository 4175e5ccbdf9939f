// Package metrics is kilnd's Prometheus instrumentation: the collectors,
// the hooks the pool, the image workers and the queue store call, and the
// /metrics handler. Names follow Prometheus conventions: a kiln_ prefix,
// base units (seconds), _total on counters.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kiln/worker"
)

// StatsFunc reads the per-queue counters of the queue store.
type StatsFunc func(ctx context.Context) (map[string]*worker.QueueStats, error)

// Metrics holds kilnd's collectors in a registry of its own, so that
// nothing a library registers globally leaks into kiln's /metrics.
type Metrics struct {
	reg *prometheus.Registry

	attempts      *prometheus.CounterVec
	retries       *prometheus.CounterVec
	deadLetters   *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	queueWait     *prometheus.HistogramVec
	workerStarts  prometheus.Counter
	workerRecycle prometheus.Counter
	workerKills   *prometheus.CounterVec
	workerDeaths  prometheus.Counter
	commitLatency prometheus.Histogram
	commitSize    prometheus.Histogram
	schedules     *scheduleMetrics
}

// New registers every collector. stats is read at each scrape for the
// jobs-by-state gauge; log hears of a scrape that could not read it.
func New(version string, stats StatsFunc, log *slog.Logger) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kiln_jobs_finished_total",
		Help: "Job attempts that ended, by queue, job kind and outcome (succeeded, retrying, dead, cancelled).",
	}, []string{"queue", "kind", "outcome"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kiln_job_retries_total",
		Help: "Failed attempts after which the job was scheduled to run again.",
	}, []string{"queue"})
	m.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kiln_dead_letters_total",
		Help: "Jobs that went dead: out of attempts or failed permanently.",
	}, []string{"queue"})
	m.runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kiln_job_run_duration_seconds",
		Help:    "Time a job's handler ran, per attempt.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 12), // 0.5 ms to about 35 min
	}, []string{"queue"})
	m.queueWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kiln_job_queue_wait_seconds",
		Help:    "Time from when a job was due to when a worker took it.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 12),
	}, []string{"queue"})
	m.workerStarts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kiln_image_worker_starts_total",
		Help: "Image worker processes started.",
	})
	m.workerRecycle = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kiln_image_worker_recycles_total",
		Help: "Image worker processes stopped after a job: recycle_after, max_worker_rss or changed settings.",
	})
	m.workerKills = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kiln_image_worker_kills_total",
		Help: "Image worker processes killed in the middle of a job, by reason (timeout, cancel).",
	}, []string{"reason"})
	m.workerDeaths = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kiln_image_worker_crashes_total",
		Help: "Image worker processes that exited or crashed in the middle of a job.",
	})
	m.commitLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kiln_store_commit_duration_seconds",
		Help:    "Time of one group commit of the queue store, fdatasync included.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14), // 0.1 ms to about 1.6 s
	})
	m.commitSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kiln_store_commit_changes",
		Help:    "Changes (submits, leases, completions, ...) that shared one group commit.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 to 512, the most one commit takes
	})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kiln_build_info",
		Help: "Always 1; the labels say which kilnd build is running.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	m.reg.MustRegister(m.attempts, m.retries, m.deadLetters, m.runDuration, m.queueWait,
		m.workerStarts, m.workerRecycle, m.workerKills, m.workerDeaths,
		m.commitLatency, m.commitSize, buildInfo,
		&jobsCollector{stats: stats, log: log},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.schedules = newScheduleMetrics(m.reg)
	return m
}

// Handler serves the registry in the exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Register adds a collector that a part of the daemon brings along, such
// as a broker-backed queue's connection state.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// AttemptStarted implements worker.PoolObserver.
func (m *Metrics) AttemptStarted(queue, _ string, waited time.Duration) {
	m.queueWait.WithLabelValues(queue).Observe(waited.Seconds())
}

// AttemptFinished implements worker.PoolObserver.
func (m *Metrics) AttemptFinished(queue, kind string, outcome worker.Outcome, ran time.Duration) {
	m.attempts.WithLabelValues(queue, kind, string(outcome)).Inc()
	m.runDuration.WithLabelValues(queue).Observe(ran.Seconds())
	switch outcome {
	case worker.OutcomeRetrying:
		m.retries.WithLabelValues(queue).Inc()
	case worker.OutcomeDead:
		m.deadLetters.WithLabelValues(queue).Inc()
	}
}

// WorkerStarted implements image.WorkerObserver.
func (m *Metrics) WorkerStarted() { m.workerStarts.Inc() }

// WorkerRecycled implements image.WorkerObserver.
func (m *Metrics) WorkerRecycled() { m.workerRecycle.Inc() }

// WorkerKilled implements image.WorkerObserver.
func (m *Metrics) WorkerKilled(timedOut bool) {
	reason := "cancel"
	if timedOut {
		reason = "timeout"
	}
	m.workerKills.WithLabelValues(reason).Inc()
}

// WorkerDied implements image.WorkerObserver.
func (m *Metrics) WorkerDied() { m.workerDeaths.Inc() }

// Committed hears one commit of the queue store.
func (m *Metrics) Committed(latency time.Duration, changes int) {
	m.commitLatency.Observe(latency.Seconds())
	m.commitSize.Observe(float64(changes))
}

// ObserveBroker adds kiln_broker_connected, read at each scrape: 1 while
// the queue backend's broker can take jobs, 0 while it cannot (unreachable,
// refusing the login, blocked by a resource alarm).
func (m *Metrics) ObserveBroker(health func() error) error {
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kiln_broker_connected",
		Help: "1 while the broker can take jobs, 0 while it cannot (unreachable, refusing the login, blocked by a resource alarm).",
	}, func() float64 {
		if health() != nil {
			return 0
		}
		return 1
	}))
}
