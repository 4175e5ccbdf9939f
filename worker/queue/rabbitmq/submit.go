package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"kiln/worker"
)

// Submit implements worker.Queue: each job is a persistent message on its
// work queue (or on the ladder, when it is due later), published in one
// pipelined window of confirms; it returns once the broker confirmed every
// one. A batch is all or none: when the broker refuses part of it, the
// parts it took are cancelled before they can run and removed from the
// records, and the error says why. A batch with a unique key in it is
// decided by the admission leader (admission.go).
//
// A job's queued event goes out, and is confirmed, before the job's own
// message: the host that runs the job publishes its running event only
// once it holds the message, so the event log has every job's events in
// the order they happened, whichever hosts took and ran it. The events of
// concurrent submits share messages (eventwriter.go), so this costs one
// round trip of latency, not broker work. A job the broker then refuses
// is withdrawn (cancelled and purged) on every host.
func (q *Queue) Submit(ctx context.Context, jobs ...*worker.JobRecord) ([]bool, error) {
	for _, j := range jobs {
		if err := q.refusedFeature(j); err != nil {
			return nil, err
		}
	}
	if hasUniqueKey(jobs) {
		duplicate, _, err := q.submitUnique(ctx, jobs, false)
		return duplicate, err
	}
	return make([]bool, len(jobs)), q.publishNew(jobs)
}

// publishNew publishes new jobs, all or none, and records them.
func (q *Queue) publishNew(jobs []*worker.JobRecord) error {
	if len(jobs) == 0 {
		return nil
	}
	if err := q.Health(); err != nil {
		return fmt.Errorf("submit: %w: %v", worker.ErrUnavailable, err)
	}
	count := map[string]int{}
	for _, j := range jobs {
		count[j.Queue]++
	}
	for name, n := range count {
		if err := q.roomFor(name, n); err != nil {
			return err
		}
	}
	l, err := q.ensureQueues(count)
	if err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	msgs, evs, err := q.submitMessages(l, jobs)
	if err != nil {
		return err
	}
	if err := q.announceQueued(l, evs); err != nil {
		return err
	}
	if _, err := q.publishEach(l, msgs); err != nil {
		q.withdraw(l, jobs)
		return submitError(err)
	}
	q.submitted(evs)
	return nil
}

// announceQueued publishes new jobs' queued events, before their messages,
// and returns once the broker confirmed them. A job whose event may be out
// but whose message is not is withdrawn.
func (q *Queue) announceQueued(l *link, evs []*event) error {
	if err := q.sendEvents(l, evs...); err != nil {
		jobs := make([]*worker.JobRecord, len(evs))
		for i, e := range evs {
			jobs[i] = e.Job
		}
		q.withdraw(l, jobs)
		return fmt.Errorf("submit: %w: publish the queued events: %v", worker.ErrUnavailable, err)
	}
	return nil
}

// SubmitEach implements worker.EachSubmitter: the jobs share one pipelined
// window of confirms, and each is answered on its own: a job the broker
// refused (or that finds its queue full) gets its error, and the others
// stand.
func (q *Queue) SubmitEach(ctx context.Context, jobs []*worker.JobRecord) ([]bool, []error) {
	errs := make([]error, len(jobs))
	var take []*worker.JobRecord
	var at []int
	for i, j := range jobs {
		if errs[i] = q.refusedFeature(j); errs[i] == nil {
			take, at = append(take, j), append(at, i)
		}
	}
	duplicate := make([]bool, len(jobs))
	var dup []bool
	var takeErrs []error
	if hasUniqueKey(take) {
		var err error
		if dup, takeErrs, err = q.submitUnique(ctx, take, true); err != nil {
			takeErrs = make([]error, len(take))
			for k := range takeErrs {
				takeErrs[k] = err
			}
		}
	} else {
		takeErrs = q.publishNewEach(take)
	}
	for k, i := range at {
		errs[i] = takeErrs[k]
		duplicate[i] = k < len(dup) && dup[k]
	}
	return duplicate, errs
}

// publishNewEach publishes new jobs, each answered on its own, and records
// those the broker took.
func (q *Queue) publishNewEach(jobs []*worker.JobRecord) []error {
	errs := make([]error, len(jobs))
	if err := q.Health(); err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("submit: %w: %v", worker.ErrUnavailable, err)
		}
		return errs
	}
	var take []*worker.JobRecord
	var at []int
	count := map[string]int{}
	for i, j := range jobs {
		if errs[i] = q.roomFor(j.Queue, count[j.Queue]+1); errs[i] == nil {
			count[j.Queue]++
			take, at = append(take, j), append(at, i)
		}
	}
	fail := func(err error) []error {
		for _, i := range at {
			errs[i] = err
		}
		return errs
	}
	if len(take) == 0 {
		return errs
	}
	l, err := q.ensureQueues(count)
	if err != nil {
		return fail(fmt.Errorf("submit: %w", err))
	}
	msgs, evs, err := q.submitMessages(l, take)
	if err != nil {
		return fail(err)
	}
	if err := q.announceQueued(l, evs); err != nil {
		return fail(err)
	}
	acked, err := q.publishEach(l, msgs)
	var stored []*event
	var refused []*worker.JobRecord
	for k, i := range at {
		switch {
		case k < len(acked) && acked[k]:
			stored = append(stored, evs[k])
			continue
		case err == nil:
			errs[i] = fmt.Errorf("submit: %w: no confirm from the broker", worker.ErrUnavailable)
		default:
			errs[i] = submitError(err)
		}
		refused = append(refused, take[k])
	}
	q.withdraw(l, refused)
	q.submitted(stored)
	return errs
}

// submitError is the error of a submit whose publish failed: a refusal by
// the broker (a queue at its length limit, or without a leader) is a full
// queue, anything else leaves the backend unavailable.
func submitError(err error) error {
	var nack *nackError
	if errors.As(err, &nack) {
		return fmt.Errorf("submit to queue %s: %w: the broker refused the job (the queue is at its length limit, or has no leader)", nack.key, worker.ErrQueueFull)
	}
	return fmt.Errorf("submit: %w", err)
}

// priorityMajor is the first RabbitMQ major version whose quorum queues
// deliver by priority (two levels: an AMQP priority above 4 is high).
const priorityMajor = 4

// refusedFeature is the error of a job asking for what this backend
// cannot give, or nil.
func (q *Queue) refusedFeature(j *worker.JobRecord) error {
	if j.Priority != 0 {
		q.mu.Lock()
		l := q.link
		q.mu.Unlock()
		if l != nil && l.major < priorityMajor {
			return notSupported("submit with priority", "quorum queues have priorities from RabbitMQ 4.0 on, and this broker is older; use a queue of its own for urgent jobs")
		}
	}
	return nil
}

// roomFor checks that n more jobs fit under a queue's max_queued, as far as
// this host's records know (the broker's x-max-length is the hard bound).
func (q *Queue) roomFor(name string, n int) error {
	limit := q.maxQueued(name)
	if limit <= 0 {
		return nil
	}
	waiting, err := q.waitingJobs(name)
	if err != nil {
		return fmt.Errorf("submit to queue %s: max_queued: %w", name, err)
	}
	if waiting+n > limit {
		return fmt.Errorf("submit to queue %s: %w: %d jobs waiting, max_queued is %d", name, worker.ErrQueueFull, waiting, limit)
	}
	return nil
}

// ensureQueues declares the queues jobs go to on the current link.
func (q *Queue) ensureQueues(count map[string]int) (*link, error) {
	var l *link
	for name := range count {
		var err error
		if l, err = q.ensureQueue(name, false); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// submitMessages fills in new jobs and makes their messages and queued
// events.
func (q *Queue) submitMessages(l *link, jobs []*worker.JobRecord) ([]outgoing, []*event, error) {
	t := now()
	msgs := make([]outgoing, 0, len(jobs))
	evs := make([]*event, 0, len(jobs))
	for _, j := range jobs {
		q.fillNew(j, t)
		j.CreatedAt = t
		msg := jobMessage(j, 0, 1, 1)
		ex, key, step := q.route(j.Queue, j.RunAt, &msg)
		if err := q.ensureStep(l, step); err != nil {
			return nil, nil, fmt.Errorf("submit: %w", err)
		}
		snap := *j
		msgs = append(msgs, outgoing{ex, key, msg})
		evs = append(evs, &event{Kind: evJob, Host: q.host, Seq: 1, Gen: 1, Copy: 1, Job: &snap})
	}
	return msgs, evs, nil
}

// fillNew gives a job that enters the queue (submitted, or published by
// another client) what it lacks: an ID, max_attempts from its queue, a
// run_at of now, its first state and no attempts.
func (q *Queue) fillNew(j *worker.JobRecord, t time.Time) {
	if j.ID == "" {
		j.ID = newID(t)
	}
	if j.MaxAttempts < 1 {
		j.MaxAttempts = max(q.queueConfig(j.Queue).MaxAttempts, 1)
	}
	if j.RunAt.IsZero() {
		j.RunAt = t
	}
	j.State = worker.StateQueued
	if j.RunAt.After(t) {
		j.State = worker.StateScheduled
	}
	j.Attempts, j.UpdatedAt = 0, t
}

// submitted records jobs the broker took (their queued events are out).
func (q *Queue) submitted(evs []*event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ev := range evs {
		q.applyOwnLocked(ev)
		q.queueState(ev.Job.Queue).expect[ev.Job.ID] = ev.Job.RunAt
	}
}

// withdraw cancels and forgets jobs whose queued events went out but that
// the broker did not take, or that must not stand (a refused batch is all
// or none), on every host; a consumer acks away a copy of one on sight.
func (q *Queue) withdraw(l *link, jobs []*worker.JobRecord) {
	var evs []*event
	t := now()
	for _, j := range jobs {
		snap := *j
		snap.State, snap.FinishedAt, snap.LastError = worker.StateCancelled, t, "withdrawn: the broker did not take it, or refused its batch"
		evs = append(evs, &event{Kind: evCancel, Host: q.host, Seq: 2, Gen: 1, Job: &snap},
			&event{Kind: evPurge, Host: q.host, ID: j.ID})
	}
	if len(evs) == 0 {
		return
	}
	q.mu.Lock()
	for _, ev := range evs {
		q.applyOwnLocked(ev)
	}
	q.mu.Unlock()
	if err := q.sendEvents(l, evs...); err != nil {
		q.log.Error("could not withdraw from other hosts the jobs the broker did not take", "jobs", len(evs)/2, "err", err)
	}
}

// maxQueued is a queue's limit on waiting jobs now (0: none).
func (q *Queue) maxQueued(name string) int {
	if q.opts.MaxQueued != nil {
		return q.opts.MaxQueued(name)
	}
	return q.queueConfig(name).MaxQueued
}

// waitingLocked counts a queue's jobs that wait to run; mu is held.
func (q *Queue) waitingLocked(name string) int {
	c := q.counts[name]
	return c[worker.StateQueued] + c[worker.StateScheduled] + c[worker.StateRetrying]
}

// jobCopy is the message of a job's new copy, routed by when it is due.
func (q *Queue) jobCopy(l *link, j *worker.JobRecord, attemptsBefore, gen int, copy uint64) (outgoing, error) {
	msg := jobMessage(j, attemptsBefore, gen, copy)
	ex, key, step := q.route(j.Queue, j.RunAt, &msg)
	if err := q.ensureStep(l, step); err != nil {
		return outgoing{}, err
	}
	return outgoing{ex, key, msg}, nil
}

// deadCopy is the message of a dead job, for its dead-letter queue.
func (q *Queue) deadCopy(j *worker.JobRecord, gen int, copy uint64) outgoing {
	return outgoing{q.names.deadExchange(), j.Queue, jobMessage(j, j.Attempts, gen, copy)}
}

// SubmitOnce implements worker.OnceSubmitter: the admission leader decides,
// as it does for unique keys, from its records, which know every job it and
// the leaders before it admitted; a purged job's ID stays known for as long
// as the records keep its purge.
func (q *Queue) SubmitOnce(ctx context.Context, job *worker.JobRecord) (bool, error) {
	if job.ID == "" {
		return false, fmt.Errorf("submit once to queue %q: the job has no ID", job.Queue)
	}
	if err := q.refusedFeature(job); err != nil {
		return false, err
	}
	dup, _, err := q.submitAdmitted(ctx, []*worker.JobRecord{job}, admitHow{once: true})
	if err != nil {
		return false, err
	}
	return dup[0], nil
}
