package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"kiln/daemon/chartstore"
	"kiln/worker"
)

// The dashboard's charts. Whoever hears of every attempt of the queues
// keeps them in chartstore's file in state_dir: on the local backend this
// host's pool; on rabbitmq every host that keeps records, from the
// records stream, which carries every host's attempts (the charts are the
// fleet's). A host that keeps no records keeps no charts and asks a host
// that does, as it asks for the counts.

// chartSampleEvery is how often the depth of the queues is sampled;
// chartSaveEvery how often the store is written, and once more at stop.
const (
	chartSampleEvery = 10 * time.Second
	chartSaveEvery   = time.Minute
)

// ChartsPath is the charts' file.
func (c *Config) ChartsPath() string { return filepath.Join(c.Daemon.StateDir, chartstore.FileName) }

// fleetCharts is a shared backend's side of the charts: whether this
// host hears of every attempt, and else where it asks.
type fleetCharts interface {
	KeepsCharts() bool
	FleetCharts(ctx context.Context, span string) (json.RawMessage, error)
}

// keepsCharts reports whether this host keeps the charts itself, before
// the backend is open.
func (c *Config) keepsCharts() bool {
	return c.Broker.Backend != backendRabbitMQ || c.Broker.keepsRecords()
}

// openCharts opens the store, on a host that keeps the charts.
func (d *daemon) openCharts() error {
	if cfg := d.config(); cfg.keepsCharts() {
		d.charts = chartstore.Open(cfg.ChartsPath(), d.log)
	}
	return nil
}

// poolObserver is what the pool tells of its attempts: the metrics, and
// the charts on a backend that does not tell them of the fleet's.
func (d *daemon) poolObserver() worker.PoolObserver {
	if _, shared := d.queue.(fleetCharts); shared || d.charts == nil {
		return d.metrics
	}
	return poolObservers{d.metrics, poolAttempts{d.charts}}
}

// poolObservers tells each of its observers.
type poolObservers []worker.PoolObserver

func (p poolObservers) AttemptStarted(queue, kind string, waited time.Duration) {
	for _, o := range p {
		o.AttemptStarted(queue, kind, waited)
	}
}

func (p poolObservers) AttemptFinished(queue, kind string, outcome worker.Outcome, ran time.Duration) {
	for _, o := range p {
		o.AttemptFinished(queue, kind, outcome, ran)
	}
}

// poolAttempts hands the pool's attempts to an AttemptObserver as they
// happen.
type poolAttempts struct{ o worker.AttemptObserver }

func (p poolAttempts) AttemptStarted(queue, _ string, waited time.Duration) {
	p.o.AttemptBegan(queue, time.Now(), waited)
}

func (p poolAttempts) AttemptFinished(queue, _ string, outcome worker.Outcome, ran time.Duration) {
	p.o.AttemptEnded(queue, time.Now(), outcome, ran)
}

// encodedCharts is the charts of a span as a host that keeps no records
// is sent them.
func (d *daemon) encodedCharts(span string) (json.RawMessage, error) {
	sp, ok := chartstore.ParseSpan(span)
	if !ok {
		return nil, fmt.Errorf("charts: unknown span %q", span)
	}
	return json.Marshal(d.charts.Snapshot(sp))
}

// runCharts samples the depths and saves the store until the returned
// stop, which saves it a last time.
func (d *daemon) runCharts() (stop func()) {
	if d.charts == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sample, save := time.NewTicker(chartSampleEvery), time.NewTicker(chartSaveEvery)
		defer sample.Stop()
		defer save.Stop()
		d.sampleDepths(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sample.C:
				d.sampleDepths(ctx)
			case <-save.C:
				d.saveCharts()
			}
		}
	}()
	return func() {
		cancel()
		<-done
		d.saveCharts()
	}
}

// sampleDepths takes each queue's queued jobs for the charts.
func (d *daemon) sampleDepths(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, chartSampleEvery)
	defer cancel()
	stats, err := d.queueStats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Debug("charts: queue depths not sampled", "err", err)
		}
		return
	}
	now := time.Now()
	for name, st := range stats {
		d.charts.Depth(name, now, st.Counts[worker.StateQueued])
	}
}

func (d *daemon) saveCharts() {
	if err := d.charts.Save(); err != nil {
		d.log.Warn("charts not saved; they are kept in memory and saved again later", "err", err)
	}
}

// chartsFreshFor is how long a host that asks for the charts shows the
// ones it was sent: the queues page refreshes at every job event.
const chartsFreshFor = 5 * time.Second

// askedCharts are the charts a host that keeps none was last sent.
type askedCharts struct {
	mu    sync.Mutex
	spans map[chartstore.Span]askedSpan
}

// askedSpan is one answer, or the error of the question: with no host
// that keeps records up, every refresh of the page would otherwise wait
// out its own question.
type askedSpan struct {
	snap *chartstore.Snapshot
	err  error
	at   time.Time
}

// chartsOf is the charts of span: this host's, or a keeper's.
func (d *daemon) chartsOf(ctx context.Context, span chartstore.Span) (*chartstore.Snapshot, error) {
	if d.charts != nil {
		return d.charts.Snapshot(span), nil
	}
	fc, ok := d.queue.(fleetCharts)
	if !ok {
		return nil, errors.New("charts: this kilnd keeps none")
	}
	a := &d.asked
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.spans[span]; ok && time.Since(s.at) < chartsFreshFor {
		return s.snap, s.err
	}
	snap, err := askCharts(ctx, fc, span)
	if ctx.Err() != nil {
		return nil, err // the page's request ended, not the question
	}
	if a.spans == nil {
		a.spans = map[chartstore.Span]askedSpan{}
	}
	a.spans[span] = askedSpan{snap, err, time.Now()}
	return snap, err
}

func askCharts(ctx context.Context, fc fleetCharts, span chartstore.Span) (*chartstore.Snapshot, error) {
	b, err := fc.FleetCharts(ctx, string(span))
	if err != nil {
		return nil, err
	}
	var snap chartstore.Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("charts of the last %s: unreadable answer: %w", span, err)
	}
	return &snap, nil
}
