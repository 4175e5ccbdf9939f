package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"kiln/worker"
)

// Submit implements worker.Queue: each job is a persistent message on its
// work queue (or on the ladder, when it is due later) and an event, all
// published in one pipelined window of confirms. It returns once the
// broker confirmed every one. A batch is all or none: when the broker
// refuses part of it, the parts it took are cancelled before they can run
// and removed from the records, and the error says why.
func (q *Queue) Submit(ctx context.Context, jobs ...*worker.JobRecord) ([]bool, error) {
	for _, j := range jobs {
		if j.Priority != 0 {
			return nil, notSupported("submit with priority", "quorum queues of RabbitMQ 3.10 have no priorities; use a queue of its own for urgent jobs")
		}
		if j.UniqueKey != "" {
			return nil, notSupported("submit with unique_key", "AMQP has no atomic check-and-publish, so no host can know that no other one is publishing the same key")
		}
	}
	if err := q.Health(); err != nil {
		return nil, fmt.Errorf("submit: %w: %v", worker.ErrUnavailable, err)
	}
	count := map[string]int{}
	for _, j := range jobs {
		count[j.Queue]++
	}
	q.mu.Lock()
	for name, n := range count {
		if limit := q.maxQueued(name); limit > 0 {
			if waiting := q.waitingLocked(name); waiting+n > limit {
				q.mu.Unlock()
				return nil, fmt.Errorf("submit to queue %s: %w: %d jobs waiting, max_queued is %d", name, worker.ErrQueueFull, waiting, limit)
			}
		}
	}
	q.mu.Unlock()
	var l *link
	for name := range count {
		var err error
		if l, err = q.ensureQueue(name, false); err != nil {
			return nil, fmt.Errorf("submit: %w", err)
		}
	}

	t := now()
	msgs := make([]outgoing, 0, 2*len(jobs))
	evs := make([]*event, 0, len(jobs))
	for _, j := range jobs {
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
		j.Attempts, j.CreatedAt, j.UpdatedAt = 0, t, t
		msg, err := jobMessage(j, 0, 1, 1)
		if err != nil {
			return nil, err
		}
		ex, key, step := q.route(j.Queue, j.RunAt, &msg)
		if err := q.ensureStep(l, step); err != nil {
			return nil, fmt.Errorf("submit: %w", err)
		}
		snap := *j
		ev := &event{Kind: evJob, Host: q.host, Seq: 1, Gen: 1, Copy: 1, Job: &snap}
		evMsg, err := ev.publishing()
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, outgoing{ex, key, msg}, outgoing{q.names.eventsExchange(), ev.routingKey(), evMsg})
		evs = append(evs, ev)
	}
	acked, err := q.publishEach(l, msgs, confirmWithin)
	if err != nil {
		q.withdraw(l, jobs, acked)
		var nack *nackError
		if errors.As(err, &nack) {
			return nil, fmt.Errorf("submit to queue %s: %w: the broker refused the job (the queue is at its length limit, or has no leader)", nack.key, worker.ErrQueueFull)
		}
		return nil, fmt.Errorf("submit: %w", err)
	}
	q.mu.Lock()
	for _, ev := range evs {
		q.applyOwnLocked(ev)
		q.queueState(ev.Job.Queue).expect[ev.Job.ID] = ev.Job.RunAt
	}
	q.mu.Unlock()
	return make([]bool, len(jobs)), nil
}

// withdraw cancels and forgets the jobs of a refused batch whose message
// the broker took, so that the batch stays all or none: a consumer acks
// such a copy away on sight.
func (q *Queue) withdraw(l *link, jobs []*worker.JobRecord, acked []bool) {
	var evs []*event
	t := now()
	for i, j := range jobs {
		if 2*i >= len(acked) || !acked[2*i] {
			continue
		}
		snap := *j
		snap.State, snap.FinishedAt, snap.LastError = worker.StateCancelled, t, "withdrawn: its batch was refused"
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
	if err := q.publishEvents(l, evs...); err != nil {
		q.log.Error("could not withdraw the taken part of a refused batch from other hosts", "jobs", len(evs)/2, "err", err)
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
	msg, err := jobMessage(j, attemptsBefore, gen, copy)
	if err != nil {
		return outgoing{}, err
	}
	ex, key, step := q.route(j.Queue, j.RunAt, &msg)
	if err := q.ensureStep(l, step); err != nil {
		return outgoing{}, err
	}
	return outgoing{ex, key, msg}, nil
}

// deadCopy is the message of a dead job, for its dead-letter queue.
func (q *Queue) deadCopy(j *worker.JobRecord, gen int, copy uint64) (outgoing, error) {
	msg, err := jobMessage(j, j.Attempts, gen, copy)
	if err != nil {
		return outgoing{}, err
	}
	return outgoing{q.names.deadExchange(), j.Queue, msg}, nil
}
