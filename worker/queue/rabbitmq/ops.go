package rabbitmq

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"kiln/worker"
)

// leaseSettle bounds how long a Lease with nothing in hand waits for a job
// this process sent to the queue and knows is due: the broker confirms a
// publish before it delivers the message to a consumer.
const leaseSettle = time.Second

// settleInHand bounds the wait of a Lease that has jobs in hand already:
// under load a dispatch loop must not idle for jobs still on their way.
const settleInHand = 10 * time.Millisecond

// expectFor is how long after a job is due this process keeps expecting
// it; past that, another host holds it or it was lost with a connection.
const expectFor = 5 * time.Second

// Lease implements worker.Queue: it hands out jobs the consumer holds,
// unacked, and marks them running. Their acks wait for Complete, Fail or
// Release. The broker confirms a publish before it delivers the message,
// so a Lease waits, briefly, for the due jobs this process itself sent to
// the queue before the call and that no one is known to hold yet: up to
// leaseSettle with nothing in hand, a moment (settleInHand) with some.
func (q *Queue) Lease(ctx context.Context, queue string, limit int, leaseFor time.Duration) ([]*worker.JobRecord, time.Time, error) {
	if _, err := q.ensureQueue(queue, true); err != nil {
		if errors.Is(err, worker.ErrUnavailable) {
			// The reconnect signals Ready; until then look again now and
			// then.
			return nil, time.Now().Add(time.Second), nil
		}
		return nil, time.Time{}, fmt.Errorf("lease from %s: %w", queue, err)
	}
	start := time.Now()
	q.mu.Lock()
	expected := q.expectedLocked(q.queueState(queue))
	q.mu.Unlock()
	var out []*worker.JobRecord
	var evs []*event
	var l *link
	for {
		q.mu.Lock()
		qs := q.queueState(queue)
		q.releaseHeldLocked(qs)
		l = q.link
		if q.paused[queue] {
			q.mu.Unlock()
			q.announce(l, evs)
			return out, time.Time{}, nil
		}
		jobs, taken := q.takeLocked(qs, limit-len(out), leaseFor)
		out, evs = append(out, jobs...), append(evs, taken...)
		next := q.nextDueLocked(queue)
		deadline := start.Add(leaseSettle)
		if len(out) > 0 {
			deadline = start.Add(settleInHand)
		}
		wait := len(out) < limit && q.stillExpectedLocked(qs, expected) && time.Now().Before(deadline)
		wake := q.wake
		q.mu.Unlock()
		if !wait {
			q.announce(l, evs)
			return out, next, nil
		}
		select {
		case <-wake:
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			q.announce(l, evs)
			return out, next, nil
		}
	}
}

// announce publishes the running events of leased jobs, so that every
// host shows them running. Nothing waits for them: the broker counts the
// attempt of a delivery that ends without an answer itself
// (x-delivery-count), and a lost event costs only that view.
func (q *Queue) announce(l *link, evs []*event) {
	q.sendEventsLater(l, evs...)
}

// takeLocked leases up to n jobs from the queue's buffer, and returns
// them with their running events; mu is held.
func (q *Queue) takeLocked(qs *queueState, n int, leaseFor time.Duration) ([]*worker.JobRecord, []*event) {
	t := now()
	var out []*worker.JobRecord
	var evs []*event
	// What the broker delivered is in its order, high priority first; of
	// what this process holds, the highest priority goes first, then the
	// order of delivery.
	slices.SortStableFunc(qs.buf, func(a, b *delivered) int { return cmp.Compare(b.job.Priority, a.job.Priority) })
	for len(out) < n && len(qs.buf) > 0 {
		dv := qs.buf[0]
		qs.buf = qs.buf[1:]
		j := *dv.job
		j.Errors = append([]worker.AttemptError(nil), dv.job.Errors...)
		j.State, j.UpdatedAt, j.LeaseUntil = worker.StateRunning, t, t.Add(leaseFor)
		j.Attempts = dv.attemptsBefore + dv.interrupted + 1
		seq := dv.copy + 1
		if r := q.records[j.ID]; r != nil {
			seq = max(seq, r.seq+1)
			if r.gen == dv.gen && r.job.CancelRequested {
				j.CancelRequested = true
			}
		}
		shown := withoutPayload(&j)
		if dv.foreign {
			// A job published by another client is first recorded here:
			// no queued event carried its payload.
			shown = &j
		}
		// The delivered message says what the job waited as, whether or
		// not this host knew the job before.
		ev := &event{Kind: evJob, Host: q.host, Seq: seq, Gen: dv.gen, Copy: dv.copy, Job: shown, From: cmp.Or(dv.job.State, worker.StateQueued)}
		q.leased[j.ID] = &lease{d: dv, until: j.LeaseUntil}
		q.applyOwnLocked(ev)
		evs = append(evs, ev)
		snap := j
		out = append(out, &snap)
	}
	return out, evs
}

// expectScan bounds the expected jobs one Lease looks at: under load
// thousands may be on their way, and a few of them are enough to know that
// one is.
const expectScan = 64

// expectedLocked lists some of the jobs this process sent to the queue
// that are due and not in hand yet, forgetting those expected for too
// long; mu is held.
func (q *Queue) expectedLocked(qs *queueState) []string {
	t := time.Now()
	var ids []string
	seen := 0
	for id, due := range qs.expect {
		if seen++; seen > expectScan {
			break
		}
		switch {
		case t.Sub(due) > expectFor:
			delete(qs.expect, id)
		case !due.After(t):
			ids = append(ids, id)
		}
	}
	return ids
}

// stillExpectedLocked reports whether any of ids is still expected; mu is
// held.
func (q *Queue) stillExpectedLocked(qs *queueState, ids []string) bool {
	for _, id := range ids {
		if _, ok := qs.expect[id]; ok {
			return true
		}
	}
	return false
}

// nextDueLocked is when the earliest job of a queue that is not due yet
// becomes due (zero: none); mu is held.
func (q *Queue) nextDueLocked(queue string) time.Time {
	var next time.Time
	t := time.Now()
	consider := func(at time.Time) {
		if at.After(t) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	if qs := q.queues[queue]; qs != nil {
		for _, d := range qs.held {
			consider(d.job.RunAt)
		}
	}
	for _, state := range []worker.State{worker.StateScheduled, worker.StateRetrying} {
		for _, r := range q.waiting[waitKey{queue, state}] {
			consider(r.job.RunAt)
		}
	}
	return next
}

// claim takes a job leased by this process out of the leased set, so that
// one answer at a time is given for it; give it back with unclaim if the
// answer could not be stored.
func (q *Queue) claim(op, id string) (*lease, *record, *link, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ls := q.leased[id]
	if ls == nil {
		r := q.recordLocked(id)
		switch {
		case r == nil:
			return nil, nil, nil, fmt.Errorf("%s job %s: %w", op, id, worker.ErrNotFound)
		case r.job.State == worker.StateRunning:
			return nil, nil, nil, fmt.Errorf("%s job %s: %w: it is not running in this process", op, id, worker.ErrWrongState)
		default:
			return nil, nil, nil, fmt.Errorf("%s job %s: %w: job is %s", op, id, worker.ErrWrongState, r.job.State)
		}
	}
	// The lease ends here whether or not the answer can be stored: a
	// caller whose answer fails gives the attempt up (the pool logs that
	// the job will run again). Kept, the lease would take the copy the
	// broker hands back after a reconnect for its own dead delivery and
	// hold it for an answer that never comes, until the lease ran out.
	delete(q.leased, id)
	if q.link == nil {
		return nil, nil, nil, fmt.Errorf("%s job %s: %w: %v", op, id, worker.ErrUnavailable, q.health)
	}
	r := *q.recordLocked(id)
	return ls, &r, q.link, nil
}

func (q *Queue) unclaim(id string, ls *lease) {
	q.mu.Lock()
	q.leased[id] = ls
	q.mu.Unlock()
}

// answer stores the outcome of a leased job: its new copy (if any) and its
// event are confirmed, then the delivery is acked. A delivery whose
// channel died meanwhile comes back to some consumer, which discards it
// because its outcome is stored.
func (q *Queue) answer(op string, ls *lease, r *record, l *link, j *worker.JobRecord, copy *outgoing) error {
	return q.answerWith(op, ls, r, l, j, copy, newJobs{})
}

// answerWith is answer that also publishes new jobs (a success's
// follow-ups): their messages with the job's copy, their queued events
// with its event, all confirmed before the ack.
func (q *Queue) answerWith(op string, ls *lease, r *record, l *link, j *worker.JobRecord, copy *outgoing, more newJobs) error {
	seq := r.seq + 1
	ev := &event{Kind: evJob, Host: q.host, Seq: seq, Gen: r.gen, Copy: r.copy, Job: j}
	var msgs []outgoing
	if copy != nil {
		msgs = append(msgs, *copy)
		ev.Copy = seq
	}
	msgs = append(msgs, more.msgs...)
	evs := append([]*event{ev}, more.evs...)
	if err := q.publishWith(l, msgs, evs...); err != nil {
		// The outcome could not be stored: the job goes back to the
		// broker now, its attempt counted, rather than stay leased until
		// its lease runs out.
		ls.d.d.Nack(false, true)
		return fmt.Errorf("%s job %s: %w", op, j.ID, err)
	}
	ackErr := ls.d.d.Ack(false)
	q.mu.Lock()
	for _, e := range evs {
		q.applyOwnLocked(e)
	}
	if copy != nil && copy.exchange != q.names.deadExchange() {
		q.queueState(j.Queue).expect[j.ID] = j.RunAt
	}
	for _, e := range more.evs {
		q.queueState(e.Job.Queue).expect[e.Job.ID] = e.Job.RunAt
	}
	q.mu.Unlock()
	if ackErr != nil {
		q.log.Warn("ack lost with the connection; the broker delivers the job again, and the copy is discarded because its outcome is stored", "job", j.ID, "err", ackErr)
	}
	return nil
}

// Complete implements worker.Queue.
func (q *Queue) Complete(ctx context.Context, id string, result json.RawMessage) error {
	ls, r, l, err := q.claim("complete", id)
	if err != nil {
		return err
	}
	j, _ := succeeded(r, result)
	return q.answer("complete", ls, r, l, withoutPayload(j), nil)
}

// succeeded is a claimed record's job as its success stores it, and the
// time of that success: Complete and CompleteWithFollowUps store the same
// outcome. A job whose cancel was asked while it ran ends cancelled.
func succeeded(r *record, result json.RawMessage) (*worker.JobRecord, time.Time) {
	j := r.snapshot()
	t := now()
	j.State, j.Result, j.FinishedAt, j.UpdatedAt, j.LeaseUntil = worker.StateSucceeded, result, t, t, time.Time{}
	if j.CancelRequested {
		j.State = worker.StateCancelled
	}
	return j, t
}

// withoutPayload is a job as the events of its start and its success carry
// it: every host has its payload from the queued event already (and a
// record keeps the payload it has when an event comes without one), so
// the events that every job has stay small.
func withoutPayload(j *worker.JobRecord) *worker.JobRecord {
	out := *j
	out.Payload = nil
	return &out
}

// Fail implements worker.Queue: a retry is a new copy on the ladder, a
// dead job a copy in the dead-letter queue.
func (q *Queue) Fail(ctx context.Context, id string, reason string, retryAt time.Time) error {
	ls, r, l, err := q.claim("fail", id)
	if err != nil {
		return err
	}
	j := r.snapshot()
	t := now()
	j.RecordError(t, reason)
	j.UpdatedAt, j.LeaseUntil = t, time.Time{}
	var copy *outgoing
	switch {
	case j.CancelRequested:
		j.State, j.FinishedAt = worker.StateCancelled, t
	case retryAt.IsZero():
		j.State, j.FinishedAt = worker.StateDead, t
		c := q.deadCopy(j, r.gen, r.seq+1)
		copy = &c
	default:
		j.State, j.RunAt = worker.StateRetrying, retryAt
		c, err := q.jobCopy(l, j, j.Attempts, r.gen, r.seq+1)
		if err != nil {
			q.unclaim(id, ls)
			return fmt.Errorf("fail job %s: %w", id, err)
		}
		copy = &c
	}
	return q.answer("fail", ls, r, l, j, copy)
}

// Release implements worker.Queue: the job goes back to its queue as a new
// copy that does not count the attempt.
func (q *Queue) Release(ctx context.Context, id string) error {
	ls, r, l, err := q.claim("release", id)
	if err != nil {
		return err
	}
	j := r.snapshot()
	t := now()
	j.State, j.Attempts, j.RunAt, j.UpdatedAt, j.LeaseUntil = worker.StateQueued, max(j.Attempts-1, 0), t, t, time.Time{}
	c, err := q.jobCopy(l, j, j.Attempts, r.gen, r.seq+1)
	if err != nil {
		q.unclaim(id, ls)
		return fmt.Errorf("release job %s: %w", id, err)
	}
	return q.answer("release", ls, r, l, j, &c)
}

// RecoverExpired implements worker.Queue: jobs leased here whose lease ran
// out go back to their queue with the attempt counted, or dead.
func (q *Queue) RecoverExpired(ctx context.Context) (int, error) {
	q.mu.Lock()
	var ids []string
	t := time.Now()
	for id, ls := range q.leased {
		if ls.until.Before(t) {
			ids = append(ids, id)
		}
	}
	q.mu.Unlock()
	n := 0
	for _, id := range ids {
		ls, r, l, err := q.claim("recover", id)
		if err != nil {
			continue // answered meanwhile
		}
		j := r.snapshot()
		at := now()
		j.RecordError(at, "lease expired: the attempt ran past its timeout")
		j.UpdatedAt, j.LeaseUntil = at, time.Time{}
		var c outgoing
		if j.Attempts >= j.MaxAttempts {
			j.State, j.FinishedAt = worker.StateDead, at
			c = q.deadCopy(j, r.gen, r.seq+1)
		} else {
			j.State, j.RunAt = worker.StateQueued, at
			c, err = q.jobCopy(l, j, j.Attempts, r.gen, r.seq+1)
		}
		if err == nil {
			err = q.answer("recover", ls, r, l, j, &c)
		} else {
			q.unclaim(id, ls)
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Cancel implements worker.Queue. The cancel is an event every kilnd
// applies: a waiting copy is acked away by whichever consumer holds or
// receives it, and a running job is stopped by the host that runs it.
func (q *Queue) Cancel(ctx context.Context, id string) (*worker.JobRecord, error) {
	if err := q.knowJob(ctx, id); err != nil {
		return nil, fmt.Errorf("cancel: %w", err)
	}
	defer q.forgetUnheld(id)
	q.mu.Lock()
	r := q.recordLocked(id)
	if r == nil {
		q.mu.Unlock()
		return nil, fmt.Errorf("cancel job %s: %w", id, worker.ErrNotFound)
	}
	if r.job.State.Terminal() {
		q.mu.Unlock()
		return nil, fmt.Errorf("cancel job %s: %w: job is already %s", id, worker.ErrWrongState, r.job.State)
	}
	j := r.snapshot()
	t := now()
	j.UpdatedAt = t
	if j.State == worker.StateRunning {
		j.CancelRequested = true
	} else {
		j.State, j.FinishedAt = worker.StateCancelled, t
	}
	ev := &event{Kind: evCancel, Host: q.host, Seq: r.seq + 1, Gen: r.gen, Copy: r.copy, Job: j}
	l := q.link
	q.mu.Unlock()
	if err := q.sendEvents(l, ev); err != nil {
		return nil, fmt.Errorf("cancel job %s: %w", id, err)
	}
	q.mu.Lock()
	q.applyOwnLocked(ev)
	q.mu.Unlock()
	return j, nil
}

// Retry implements worker.Queue: a new generation of the job is published,
// which no cancel of an earlier one stops, and the old generation's copy
// leaves the dead-letter queue.
func (q *Queue) Retry(ctx context.Context, id string) (*worker.JobRecord, error) {
	if err := q.knowJob(ctx, id); err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	defer q.forgetUnheld(id)
	j, err := q.retry(id)
	if err == nil {
		q.sweepAfter("retry", j.Queue)
	}
	return j, err
}

// sweepAfter sweeps a queue's dead letters after an operation changed
// which jobs are dead ("": every queue's). A failure is logged: the
// records are right, and the next sweep settles the queue.
func (q *Queue) sweepAfter(op, queue string) {
	if _, err := q.SweepDeadLetters(queue); err != nil {
		q.log.Warn("dead-letter sweep after "+op+" failed; the next one settles the queue", "queue", queue, "err", err)
	}
}

func (q *Queue) retry(id string) (*worker.JobRecord, error) {
	q.mu.Lock()
	r := q.recordLocked(id)
	if r == nil {
		q.mu.Unlock()
		return nil, fmt.Errorf("retry job %s: %w", id, worker.ErrNotFound)
	}
	if r.job.State != worker.StateDead && r.job.State != worker.StateCancelled {
		q.mu.Unlock()
		return nil, fmt.Errorf("retry job %s: %w: job is %s; only dead or cancelled jobs are retried", id, worker.ErrWrongState, r.job.State)
	}
	j := r.snapshot()
	seq, gen := r.seq+1, r.gen+1
	l := q.link
	q.mu.Unlock()
	if l == nil {
		return nil, q.unavailable("retry job " + id)
	}
	t := now()
	j.State, j.Attempts, j.RunAt, j.UpdatedAt = worker.StateQueued, 0, t, t
	j.FinishedAt, j.LeaseUntil, j.CancelRequested = time.Time{}, time.Time{}, false
	if _, err := q.ensureQueue(j.Queue, false); err != nil {
		return nil, fmt.Errorf("retry job %s: %w", id, err)
	}
	c, err := q.jobCopy(l, j, 0, gen, seq)
	if err != nil {
		return nil, fmt.Errorf("retry job %s: %w", id, err)
	}
	ev := &event{Kind: evJob, Host: q.host, Seq: seq, Gen: gen, Copy: seq, Job: j}
	if err := q.publishWith(l, []outgoing{c}, ev); err != nil {
		return nil, fmt.Errorf("retry job %s: %w", id, err)
	}
	q.mu.Lock()
	q.applyOwnLocked(ev)
	q.queueState(j.Queue).expect[j.ID] = j.RunAt
	q.mu.Unlock()
	out := *j
	return &out, nil
}

// RetryAll implements worker.Queue.
func (q *Queue) RetryAll(ctx context.Context, queue string) (int, error) {
	dead, err := q.List(ctx, queue, worker.StateDead, 0)
	if err != nil {
		return 0, err
	}
	n := 0
	defer func() {
		if n > 0 {
			q.sweepAfter("retry", queue)
		}
	}()
	for _, j := range dead {
		err := q.knowJob(ctx, j.ID)
		if err == nil {
			_, err = q.retry(j.ID)
		}
		q.forgetUnheld(j.ID)
		if err != nil {
			if errors.Is(err, worker.ErrWrongState) || errors.Is(err, worker.ErrNotFound) {
				continue // retried or purged by another host meanwhile
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// purgeBatch bounds one window of purge events.
const purgeBatch = 1000

// Purge implements worker.Queue: the jobs' records are deleted on every
// host by a purge event each.
func (q *Queue) Purge(ctx context.Context, queue string, state worker.State, olderThan time.Duration) (int, error) {
	if !state.Terminal() {
		return 0, fmt.Errorf("purge: %w: only finished jobs (succeeded, dead, cancelled) are purged, not %s", worker.ErrWrongState, state)
	}
	if q.opts.NoRecords {
		return 0, refusedWithoutRecords("purge")
	}
	if q.pastUnread() {
		return 0, errPastUnread("purge")
	}
	cutoff := now().Add(-olderThan)
	q.mu.Lock()
	var evs []*event
	for id, r := range q.records {
		if (queue == "" || r.job.Queue == queue) && r.job.State == state && !r.job.FinishedAt.After(cutoff) {
			evs = append(evs, &event{Kind: evPurge, Host: q.host, ID: id})
		}
	}
	l := q.link
	q.mu.Unlock()
	if q.store != nil {
		var ids []string
		err := q.store.finished(time.Time{}, "", func(id, jq string, js worker.State, finishedAt time.Time) bool {
			if (queue == "" || jq == queue) && js == state && !finishedAt.After(cutoff) {
				ids = append(ids, id)
			}
			return true
		})
		if err != nil {
			return 0, fmt.Errorf("purge: %w", err)
		}
		// Those in memory are counted above; those purged since the file's
		// last write are gone. One look under mu for the lot.
		q.mu.Lock()
		for _, id := range ids {
			_, resident := q.records[id]
			_, gone := q.purged[id]
			if !resident && !gone {
				evs = append(evs, &event{Kind: evPurge, Host: q.host, ID: id})
			}
		}
		q.mu.Unlock()
	}
	n := 0
	for len(evs) > 0 {
		batch := evs[:min(purgeBatch, len(evs))]
		evs = evs[len(batch):]
		if err := q.sendEvents(l, batch...); err != nil {
			return n, fmt.Errorf("purge: %w", err)
		}
		q.mu.Lock()
		for _, ev := range batch {
			q.applyOwnLocked(ev)
		}
		q.mu.Unlock()
		n += len(batch)
	}
	if state == worker.StateDead && n > 0 {
		q.sweepAfter("purge", queue)
	}
	return n, nil
}

// Pause implements worker.Queue: every kilnd stops leasing from the queue
// when it reads the event, and one that starts later reads it from the
// records.
func (q *Queue) Pause(ctx context.Context, queue string) error {
	return q.control(evPause, queue)
}

// Resume implements worker.Queue.
func (q *Queue) Resume(ctx context.Context, queue string) error {
	return q.control(evResume, queue)
}

func (q *Queue) control(kind, queue string) error {
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	ev := &event{Kind: kind, Host: q.host, Queue: queue}
	if err := q.sendEvents(l, ev); err != nil {
		return fmt.Errorf("%s queue %s: %w", kind, queue, err)
	}
	q.mu.Lock()
	q.applyOwnLocked(ev)
	q.mu.Unlock()
	return nil
}

// Get implements worker.Queue.
func (q *Queue) Get(ctx context.Context, id string) (*worker.JobRecord, error) {
	if err := q.knowJob(ctx, id); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	defer q.forgetUnheldLocked(id)
	r := q.recordLocked(id)
	if r == nil {
		return nil, fmt.Errorf("job %s: %w", id, worker.ErrNotFound)
	}
	return r.snapshot(), nil
}

// List implements worker.Queue. A listing of dead jobs first sweeps the
// dead-letter queues that hold other messages than the dead jobs the
// records count, so that it shows the jobs the broker dead-lettered
// itself without reading a settled queue through on every listing.
func (q *Queue) List(ctx context.Context, queue string, state worker.State, limit int) ([]*worker.JobRecord, error) {
	if q.asksOthers() {
		return q.listAsked(ctx, queue, state, limit)
	}
	if state == worker.StateDead && q.Health() == nil {
		if _, err := q.sweepDeadLetters(queue, true); err != nil {
			q.log.Warn("dead-letter sweep before listing dead jobs failed; listing the records", "queue", queue, "err", err)
		}
	}
	out, _, err := q.listFrom(queue, state, time.Time{}, "", limit)
	return out, err
}

// Stats implements worker.Queue.
func (q *Queue) Stats(ctx context.Context) (map[string]*worker.QueueStats, error) {
	if q.asksOthers() {
		ans, err := q.askHistory(ctx, historyRequest{Op: "stats"}, askWithin)
		if err != nil {
			return nil, fmt.Errorf("stats: %w", err)
		}
		return ans.Stats, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[string]*worker.QueueStats{}
	get := func(name string) *worker.QueueStats {
		if out[name] == nil {
			out[name] = &worker.QueueStats{Counts: map[worker.State]int{}}
		}
		return out[name]
	}
	for name, c := range q.counts {
		for s, n := range c {
			if n > 0 {
				get(name).Counts[s] = n
			}
		}
	}
	for name := range q.paused {
		get(name).Paused = true
	}
	if time.Since(q.oldestAt) > oldestFresh {
		// Finding the oldest queued job looks at every one: under a deep
		// queue and a tight status poll, that is done at most once per
		// oldestFresh, not at every call, so as not to hold mu for it.
		q.oldest = map[string]time.Time{}
		for k, waiting := range q.waiting {
			if k.state != worker.StateQueued {
				continue
			}
			for _, r := range waiting {
				if o, ok := q.oldest[k.queue]; !ok || r.job.CreatedAt.Before(o) {
					q.oldest[k.queue] = r.job.CreatedAt
				}
			}
		}
		q.oldestAt = time.Now()
	}
	for name, at := range q.oldest {
		if len(q.waiting[waitKey{name, worker.StateQueued}]) > 0 {
			get(name).OldestQueued = at
		}
	}
	return out, nil
}

// oldestFresh is how long Stats gives the oldest queued jobs it found
// again rather than look at every queued job.
const oldestFresh = time.Second

var _ worker.Queue = (*Queue)(nil)
var _ worker.EachSubmitter = (*Queue)(nil)
