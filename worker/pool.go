package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// stopGrace is how long handlers get to return after their context has been
// cancelled at the end of a drain; a job still running after that stays
// leased and is recovered as interrupted at the next start.
const stopGrace = 5 * time.Second

// Pool leases jobs from a Queue and runs them. One goroutine, the dispatch
// loop, owns all scheduling decisions; handlers run in goroutines of their
// own and report back to it.
type Pool struct {
	queue  Queue
	kinds  Kinds
	queues func() map[string]QueueConfig // the current config's queues
	log    *slog.Logger
	// observer hears of attempts; nil when nobody listens.
	observer PoolObserver

	configChanged chan struct{}
	finished      chan finishedJob
	// finisher is the queue when it can store completions and leases
	// together; its handlers' successes then go to the dispatch loop on
	// completions, to be stored in batches.
	finisher    BatchFinisher
	completions chan completion
	// chains is the queue when it can store follow-ups with a success.
	chains ChainStore
	// fleetRates is the queue when it keeps rates for all hosts together,
	// fleetRunning when it shares max_running among them.
	fleetRates   FleetRates
	fleetRunning FleetRunning

	running   atomic.Int64
	succeeded atomic.Int64
	failed    atomic.Int64
	rates     rateCounter

	mu      sync.Mutex
	cancels map[string]context.CancelCauseFunc // running jobs, by ID

	progress progressBoard // what running jobs reported

	heldByRate map[string]bool // queues whose rate holds back due jobs; mu guards it
}

// finishedJob tells the dispatch loop that a job's handler is done.
type finishedJob struct {
	queue string
	// slotFreed says the dispatch loop already counted the job's slot as
	// free, when it stored the job's completion.
	slotFreed bool
}

// completion is a handler's success on its way to the dispatch loop; done
// receives the outcome of storing it.
type completion struct {
	job       *JobRecord
	result    []byte
	followUps []*JobRecord
	done      chan error
}

// maxCompletionBatch bounds the completions stored in one change.
const maxCompletionBatch = 1024

// errCancelRequested is the cause of a running job's context cancellation
// when someone cancelled the job.
var errCancelRequested = errors.New("cancelled by request")

// leaseCheckEvery is how often the pool looks for leases that have run out
// (a handler that ignored its context past the timeout).
const leaseCheckEvery = 10 * time.Second

// RunOptions tune Run.
type RunOptions struct {
	// Drain says how long running jobs may take to finish once ctx is
	// done; it is asked then, so that a reloaded value applies.
	Drain func() time.Duration
	// Heartbeat, if set, is called every HeartbeatEvery from the dispatch
	// loop itself, so that a stuck loop stops the calls (the systemd
	// watchdog is fed from here).
	Heartbeat      func()
	HeartbeatEvery time.Duration
	// Started, if set, is called once the loop is about to take jobs.
	Started func()
}

// NewPool returns a pool that runs the jobs of q with kinds, under the
// queue settings that queues returns at the time; Run starts it.
func NewPool(q Queue, kinds Kinds, queues func() map[string]QueueConfig, log *slog.Logger) *Pool {
	p := &Pool{
		queue:         q,
		kinds:         kinds,
		queues:        queues,
		log:           log,
		configChanged: make(chan struct{}, 1),
		finished:      make(chan finishedJob, 64),
		cancels:       map[string]context.CancelCauseFunc{},
	}
	if f, ok := q.(BatchFinisher); ok {
		p.finisher = f
		p.completions = make(chan completion, maxCompletionBatch)
	}
	p.chains, _ = q.(ChainStore)
	p.fleetRates, _ = q.(FleetRates)
	p.fleetRunning, _ = q.(FleetRunning)
	return p
}

// ConfigChanged tells the pool that the queue settings have changed; running
// jobs keep the settings they started with.
func (p *Pool) ConfigChanged() {
	select {
	case p.configChanged <- struct{}{}:
	default: // one pending wake-up reads the newest settings anyway
	}
}

// Stats is a snapshot of the pool's activity since start.
type Stats struct {
	Running, Succeeded, Failed int64
	// Per second over the last minute, per queue.
	SucceededPerSec, FailedPerSec map[string]float64
	// HeldByRate names the queues that have due jobs and free slots but
	// wait for their rate, in name order.
	HeldByRate []string
}

// Stats returns counters for status lines.
func (p *Pool) Stats() Stats {
	ok, failed := p.rates.perSecond(time.Now())
	p.mu.Lock()
	var held []string
	for q, h := range p.heldByRate {
		if h {
			held = append(held, q)
		}
	}
	p.mu.Unlock()
	slices.Sort(held)
	return Stats{Running: p.running.Load(), Succeeded: p.succeeded.Load(), Failed: p.failed.Load(),
		SucceededPerSec: ok, FailedPerSec: failed, HeldByRate: held}
}

// Cancel cancels the handler of a job running in this pool, and reports
// whether it was running here.
func (p *Pool) Cancel(id string) bool {
	p.mu.Lock()
	cancel := p.cancels[id]
	p.mu.Unlock()
	if cancel != nil {
		cancel(errCancelRequested)
	}
	return cancel != nil
}

// queueState is the dispatch loop's view of one queue.
type queueState struct {
	cfg      QueueConfig
	running  int
	dueCheck bool      // something may be due: ask the store
	nextDue  time.Time // earliest known future job
	// bucket keeps the queue's rate on this host; nil when it has none,
	// or when the queue keeps it for the fleet.
	bucket *tokenBucket
	// tokenAt is when the rate allows the next start, while it holds
	// due jobs back (zero when the fleet's tokens signal Ready).
	tokenAt time.Time
	held    bool // the rate holds due jobs back
}

// slots is how many jobs of queue name run at once on this host: its
// concurrency, within this host's share of its max_running.
func (p *Pool) slots(name string, cfg QueueConfig) int {
	if cfg.MaxRunning <= 0 {
		return cfg.Concurrency
	}
	share := cfg.MaxRunning
	if p.fleetRunning != nil {
		share = p.fleetRunning.RunningShare(name, cfg.MaxRunning)
	}
	return min(cfg.Concurrency, share)
}

// Run dispatches until ctx is done, then drains. It returns an error only when
// it could not drain in time.
func (p *Pool) Run(ctx context.Context, opts RunOptions) error {
	// Handlers get a context that survives ctx: stopping means "take no new
	// work", and running jobs are only cancelled when the drain runs out.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	states := map[string]*queueState{}
	apply := func(cfgs map[string]QueueConfig) {
		for name, cfg := range cfgs {
			st := states[name]
			if st == nil {
				st = &queueState{}
				states[name] = st
			}
			st.cfg = cfg
			st.dueCheck = true
			p.applyRate(name, st, time.Now())
		}
		for name, st := range states {
			if _, ok := cfgs[name]; !ok {
				st.cfg = QueueConfig{} // no new leases; running ones finish
				p.applyRate(name, st, time.Now())
			}
		}
	}
	apply(p.queues())

	var heartbeat <-chan time.Time
	if opts.Heartbeat != nil && opts.HeartbeatEvery > 0 {
		t := time.NewTicker(opts.HeartbeatEvery)
		defer t.Stop()
		heartbeat = t.C
		opts.Heartbeat()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	leaseCheck := time.NewTicker(leaseCheckEvery)
	defer leaseCheck.Stop()
	if opts.Started != nil {
		opts.Started()
	}

	for {
		wake := p.dispatch(handlerCtx, states)
		timer.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
			var drain time.Duration
			if opts.Drain != nil {
				drain = opts.Drain()
			}
			return p.drain(drain, cancelHandlers)
		case <-p.queue.Ready():
			for _, st := range states {
				st.dueCheck = true
			}
		case f := <-p.finished:
			p.jobFinished(states, f)
			// Take every other finish that is already waiting, so that one
			// lease refills all the freed slots instead of one commit per
			// slot.
			for more := true; more; {
				select {
				case f := <-p.finished:
					p.jobFinished(states, f)
				default:
					more = false
				}
			}
		case c := <-p.completions:
			batch := []completion{c}
			for len(batch) < maxCompletionBatch {
				select {
				case c := <-p.completions:
					batch = append(batch, c)
					continue
				default:
				}
				break
			}
			p.completeBatch(handlerCtx, states, batch)
		case <-timer.C:
			now := time.Now()
			for _, st := range states {
				if !st.nextDue.IsZero() && !st.nextDue.After(now) {
					st.dueCheck = true
				}
			}
		case <-p.configChanged:
			apply(p.queues())
		case <-heartbeat:
			opts.Heartbeat()
		case <-leaseCheck.C:
			if n, err := p.queue.RecoverExpired(ctx); err != nil {
				p.log.Error("recovering expired leases failed", "err", err)
			} else if n > 0 {
				p.log.Warn("jobs overran their lease and were returned to their queues", "jobs", n)
			}
		}
	}
}

func (p *Pool) jobFinished(states map[string]*queueState, f finishedJob) {
	if st := states[f.queue]; st != nil && !f.slotFreed {
		st.running--
		st.dueCheck = true
	}
}

// completeBatch stores handlers' successes, per queue in one change that
// also leases the queue's next jobs into the slots they free, and starts
// those jobs.
func (p *Pool) completeBatch(ctx context.Context, states map[string]*queueState, batch []completion) {
	byQueue := map[string][]completion{}
	for _, c := range batch {
		byQueue[c.job.Queue] = append(byQueue[c.job.Queue], c)
	}
	for name, cs := range byQueue {
		st := states[name]
		if st == nil { // cannot happen: a job runs only from a known queue
			st = &queueState{}
			states[name] = st
		}
		done := make([]Completion, len(cs))
		for i, c := range cs {
			done[i] = Completion{ID: c.job.ID, Result: c.result, FollowUps: c.followUps}
		}
		free := max(p.slots(name, st.cfg)-st.running+len(cs), 0)
		allowed := p.takeTokens(name, st, free, time.Now())
		errs, jobs, next, err := p.finisher.CompleteAndLease(context.Background(), done, name, allowed, leaseTime(st.cfg))
		if err != nil {
			// Nothing was stored: each handler reports its job as not
			// completed, and its slot is freed the usual way.
			p.returnTokens(name, st, allowed, 0)
			for _, c := range cs {
				c.done <- err
			}
			continue
		}
		p.returnTokens(name, st, allowed, len(jobs))
		for i, c := range cs {
			if errs[i] == nil {
				st.running--
			}
			c.done <- errs[i]
		}
		st.dueCheck = len(jobs) == allowed
		p.setHeld(name, st, allowed < free && len(jobs) == allowed)
		st.nextDue = next
		p.start(ctx, st, jobs)
	}
}

// start runs leased jobs in slots of their queue.
func (p *Pool) start(ctx context.Context, st *queueState, jobs []*JobRecord) {
	for _, j := range jobs {
		st.running++
		p.running.Add(1)
		go p.runJob(ctx, j, st.cfg)
	}
}

// leaseTime is how long a queue's job is leased: its timeout (an hour when
// it has none) and the grace a stopping pool gives handlers.
func leaseTime(cfg QueueConfig) time.Duration {
	leaseFor := cfg.Timeout.Std()
	if leaseFor <= 0 {
		leaseFor = time.Hour
	}
	return leaseFor + stopGrace
}

// dispatch leases work for every queue with free slots and something due,
// and returns when the loop should next look on its own.
func (p *Pool) dispatch(ctx context.Context, states map[string]*queueState) time.Time {
	now := time.Now()
	wake := now.Add(time.Minute)
	for name, st := range states {
		free := p.slots(name, st.cfg) - st.running
		allowed := 0
		if st.dueCheck && free > 0 {
			allowed = p.takeTokens(name, st, free, now)
		}
		if allowed > 0 {
			jobs, next, err := p.queue.Lease(ctx, name, allowed, leaseTime(st.cfg))
			if err != nil {
				// The store may be out of space or failing; try again soon
				// rather than spin.
				p.returnTokens(name, st, allowed, 0)
				p.log.Error("lease failed", "queue", name, "err", err)
				st.nextDue = time.Now().Add(time.Second)
			} else {
				p.returnTokens(name, st, allowed, len(jobs))
				st.dueCheck = len(jobs) == allowed // a full lease may have left more
				p.setHeld(name, st, allowed < free && len(jobs) == allowed)
				st.nextDue = next
				p.start(ctx, st, jobs)
			}
		}
		if !st.nextDue.IsZero() && st.nextDue.Before(wake) {
			wake = st.nextDue
		}
		// A queue its rate holds back looks again at its next token.
		if st.dueCheck && !st.tokenAt.IsZero() && st.tokenAt.Before(wake) {
			wake = st.tokenAt
		}
	}
	return wake
}

func (p *Pool) runJob(ctx context.Context, j *JobRecord, cfg QueueConfig) {
	slotFreed := false
	defer func() {
		p.running.Add(-1)
		p.finished <- finishedJob{queue: j.Queue, slotFreed: slotFreed}
	}()
	// The job's attributes are only put together for lines that will be
	// written: at thousands of jobs a second, a per-job logger costs.
	log := func(level slog.Level, msg string, args ...any) {
		if p.log.Enabled(ctx, level) {
			p.log.Log(ctx, level, msg, append([]any{"job", j.ID, "queue", j.Queue, "type", j.Type, "attempt", j.Attempts}, args...)...)
		}
	}
	log(slog.LevelDebug, "job started")
	start := time.Now()
	if p.observer != nil {
		p.observer.AttemptStarted(j.Queue, j.Type, max(0, start.Sub(j.RunAt)))
	}

	timeout := cfg.TimeoutFor(j)
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.mu.Lock()
	p.cancels[j.ID] = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.cancels, j.ID)
		p.mu.Unlock()
	}()
	if j.CancelRequested {
		cancel(errCancelRequested)
	}
	if timeout > 0 {
		var cancelTimeout context.CancelFunc
		runCtx, cancelTimeout = context.WithTimeout(runCtx, timeout)
		defer cancelTimeout()
	}
	runCtx = p.progress.track(runCtx, j)
	defer p.progress.forget(j.ID)

	result, err := p.handle(runCtx, j)
	var next []*JobRecord
	if err == nil {
		next, err = p.followUps(j, result)
	}
	if err == nil {
		if p.finisher != nil {
			done := make(chan error, 1)
			p.completions <- completion{job: j, result: result, followUps: next, done: done}
			err = <-done
			slotFreed = err == nil
		} else {
			err = p.complete(j.ID, result, next)
		}
		if err != nil {
			log(slog.LevelError, "job finished but its completion could not be stored; it will run again", "err", err)
			return
		}
		p.succeeded.Add(1)
		p.rates.add(j.Queue, true, time.Now())
		p.observed(j, OutcomeSucceeded, start)
		if len(next) > 0 {
			log(slog.LevelInfo, "job succeeded", "elapsed", time.Since(start).Round(time.Millisecond), "follow_ups", len(next))
		} else {
			log(slog.LevelInfo, "job succeeded", "elapsed", time.Since(start).Round(time.Millisecond))
		}
		return
	}
	if ctx.Err() != nil {
		// The daemon is stopping and ran out of drain time: hand the job
		// back uncounted.
		if rerr := p.queue.Release(context.Background(), j.ID); rerr != nil {
			log(slog.LevelError, "release of interrupted job failed; it is recovered at next start", "err", rerr)
		}
		log(slog.LevelWarn, "job interrupted by shutdown, returned to the queue")
		return
	}
	switch {
	case errors.Is(context.Cause(runCtx), errCancelRequested):
		err = errCancelRequested
	case runCtx.Err() == context.DeadlineExceeded:
		err = fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	p.failed.Add(1)
	p.rates.add(j.Queue, false, time.Now())
	var retryAt time.Time
	if !IsPermanent(err) && err != errCancelRequested && j.Attempts < cfg.AttemptsFor(j) {
		retryAt = time.Now().Add(Backoff(j.Attempts, cfg.BackoffBase.Std(), cfg.BackoffMax.Std()))
	}
	if ferr := p.queue.Fail(context.Background(), j.ID, err.Error(), retryAt); ferr != nil {
		log(slog.LevelError, "job failed and its failure could not be stored; it will run again", "err", err, "store_err", ferr)
		return
	}
	switch {
	case err == errCancelRequested:
		p.observed(j, OutcomeCancelled, start)
		log(slog.LevelInfo, "job cancelled while running")
	case retryAt.IsZero():
		p.observed(j, OutcomeDead, start)
		log(slog.LevelError, "job dead", "err", err, "attempts", j.Attempts)
	default:
		p.observed(j, OutcomeRetrying, start)
		log(slog.LevelWarn, "job failed, will retry", "err", err, "retry_in", time.Until(retryAt).Round(time.Millisecond))
	}
}

func (p *Pool) observed(j *JobRecord, o Outcome, start time.Time) {
	if p.observer != nil {
		p.observer.AttemptFinished(j.Queue, j.Type, o, time.Since(start))
	}
}

// handle runs the job's handler, turning a panic into a failed attempt
// rather than a dead daemon.
func (p *Pool) handle(ctx context.Context, j *JobRecord) (result []byte, err error) {
	h := p.kinds[j.Type]
	if h == nil {
		return nil, Permanent(fmt.Errorf("no handler for job type %q", j.Type))
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h.Handle(ctx, j)
}

func (p *Pool) drain(timeout time.Duration, cancelHandlers context.CancelFunc) error {
	n := p.running.Load()
	if n == 0 {
		return nil
	}
	p.log.Info("stopping: waiting for running jobs", "running", n, "timeout", timeout)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	cancelled := false
	for p.running.Load() > 0 {
		select {
		case c := <-p.completions:
			// The dispatch loop has stopped: store each one alone.
			c.done <- p.complete(c.job.ID, c.result, c.followUps)
		case <-p.finished:
		case <-deadline.C:
			if cancelled {
				return errors.New("running jobs did not stop; they will be recovered at next start")
			}
			p.log.Warn("stopping: drain timeout reached, cancelling running jobs", "running", p.running.Load())
			cancelHandlers()
			cancelled = true
			deadline.Reset(stopGrace)
		}
	}
	return nil
}
