package rabbitmq

import (
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// The dead-letter queue of a kiln queue holds one message per dead job:
// the copy kiln published when the job died, or a message the broker
// dead-lettered itself (its delivery limit, a body that is not a job). A
// sweep reads the queue once through and settles each message against the
// records, so that `jobs -state dead`, `retry` and `purge -dead` and the
// queue agree:
//
//   - a copy of a job that is no longer dead in that generation (retried,
//     or purged) is acked away;
//   - a job the records do not show dead (its dead event was lost, or the
//     broker dead-lettered it) is recorded dead, with the broker's reason,
//     and kept;
//   - every other message is kept: closing the sweep's channel gives the
//     kept messages back to the queue.
//
// Sweeps run after retry and purge of dead jobs, before a listing of dead
// jobs, and every sweepEvery on every host (which passes over a queue
// whose message count matches the dead jobs the records count); two hosts
// sweeping at once each settle the messages they were given.

// sweepEvery is how often each kilnd sweeps the dead-letter queues.
const sweepEvery = time.Minute

// SweepResult counts what a sweep did. NotJobs counts the messages that
// are not jobs, NewNotJobs those of them the last sweep had not seen.
type SweepResult struct {
	Kept, Dropped, Recorded, NotJobs, NewNotJobs int
}

// SweepDeadLetters sweeps the dead-letter queue of queue ("": of every
// queue this process knows).
func (q *Queue) SweepDeadLetters(queue string) (SweepResult, error) {
	return q.sweepDeadLetters(queue, false)
}

// sweepDeadLetters sweeps; with onlyUnsettled, a queue whose dead-letter
// queue holds as many messages as the records count dead jobs is passed
// over (one passive declare instead of reading every message).
func (q *Queue) sweepDeadLetters(queue string, onlyUnsettled bool) (SweepResult, error) {
	q.mu.Lock()
	l := q.link
	var names []string
	if queue != "" {
		names = []string{queue}
	} else {
		for name := range q.queues {
			names = append(names, name)
		}
	}
	q.mu.Unlock()
	if l == nil {
		return SweepResult{}, q.unavailable("sweep dead letters")
	}
	var total SweepResult
	for _, name := range names {
		if _, err := q.ensureQueue(name, false); err != nil {
			return total, err
		}
		if onlyUnsettled && q.settled(l, name) {
			continue
		}
		res, err := q.sweep(l, name)
		total.Kept += res.Kept
		total.Dropped += res.Dropped
		total.Recorded += res.Recorded
		total.NotJobs += res.NotJobs
		total.NewNotJobs += res.NewNotJobs
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// settled reports whether queue's dead-letter queue holds one message per
// dead job of the records (and the messages that are not jobs the last
// sweep found), as it does when nothing is left to settle.
func (q *Queue) settled(l *link, queue string) bool {
	var messages int
	err := l.declare(func(ch *amqp.Channel) error {
		st, err := ch.QueueDeclarePassive(q.names.dead(queue), true, false, false, false, nil)
		messages = st.Messages
		return err
	})
	q.mu.Lock()
	dead := q.counts[queue][worker.StateDead] + q.notJobs[queue]
	q.mu.Unlock()
	return err == nil && messages == dead
}

func (q *Queue) sweep(l *link, queue string) (SweepResult, error) {
	name := q.names.dead(queue)
	ch, err := l.conn.Channel()
	if err != nil {
		return SweepResult{}, fmt.Errorf("sweep %s on %s: %w", name, l.url, err)
	}
	res, err := q.sweepOn(l, ch, queue)
	// Closing the channel returns every message not acked: the kept ones.
	ch.Close()
	if err == nil {
		q.mu.Lock()
		res.NewNotJobs = max(res.NotJobs-q.notJobs[queue], 0)
		q.notJobs[queue] = res.NotJobs
		q.mu.Unlock()
	}
	if err == nil {
		q.awaitReturned(l, name, res.Kept+res.NotJobs)
	}
	return res, err
}

// returnWithin bounds the wait for a sweep's kept messages to be back.
const returnWithin = 5 * time.Second

// awaitReturned waits until the queue holds at least want messages again:
// a quorum queue takes returned messages back a moment after the channel
// closed, and a sweep that answers once its queue is settled lets the
// caller (retry, purge, a listing) rely on it. Another host's sweep may
// hold some meanwhile: the wait is bounded.
func (q *Queue) awaitReturned(l *link, name string, want int) {
	if want == 0 {
		return
	}
	deadline := time.Now().Add(returnWithin)
	l.declare(func(ch *amqp.Channel) error {
		for time.Now().Before(deadline) {
			st, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
			if err != nil || st.Messages >= want {
				return err
			}
			time.Sleep(5 * time.Millisecond) // the broker applies the returns
		}
		return nil
	})
}

func (q *Queue) sweepOn(l *link, ch *amqp.Channel, queue string) (SweepResult, error) {
	var res SweepResult
	name := q.names.dead(queue)
	st, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
	if err != nil {
		return res, fmt.Errorf("sweep %s on %s: %w", name, l.url, err)
	}
	var record []*event
	for range st.Messages {
		d, ok, err := ch.Get(name, false)
		if err != nil {
			return res, fmt.Errorf("sweep %s on %s: %w", name, l.url, err)
		}
		if !ok {
			break
		}
		dv, err := decodeDelivery(d, queue)
		if err != nil || dv.job.ID == "" {
			res.NotJobs++ // an operator reads it there
			continue
		}
		switch ev := q.judgeDeadLetter(dv); {
		case ev == nil:
			res.Kept++
		case ev.Kind == evPurge:
			if err := d.Ack(false); err != nil {
				return res, fmt.Errorf("sweep %s on %s: %w", name, l.url, err)
			}
			res.Dropped++
		default:
			record = append(record, ev)
			res.Kept++
			res.Recorded++
		}
	}
	if len(record) > 0 {
		if err := q.sendEvents(l, record...); err != nil {
			return res, fmt.Errorf("sweep %s: record dead jobs: %w", name, err)
		}
		q.mu.Lock()
		for _, ev := range record {
			q.applyOwnLocked(ev)
		}
		q.mu.Unlock()
	}
	return res, nil
}

// judgeDeadLetter decides what to do with a job's message in a dead-letter
// queue: nil keeps it, an evPurge drops it, and an evJob event records the
// job dead (and keeps it).
func (q *Queue) judgeDeadLetter(dv *delivered) *event {
	q.mu.Lock()
	defer q.mu.Unlock()
	id, gen := dv.job.ID, max(dv.gen, 1)
	r := q.recordLocked(id)
	switch {
	case r == nil:
		if pg, ok := q.purgedGenLocked(id); ok && pg >= gen {
			return &event{Kind: evPurge}
		}
	case r.gen > gen:
		return &event{Kind: evPurge} // retried since
	case r.gen == gen && r.job.State == worker.StateDead:
		return nil
	}
	j := *dv.job
	seq := max(dv.copy, 1)
	if r != nil {
		j = *r.snapshot()
		seq = max(seq, r.seq+1)
	}
	t := now()
	j.State, j.FinishedAt, j.UpdatedAt, j.LeaseUntil = worker.StateDead, t, t, time.Time{}
	if j.MaxAttempts < 1 {
		j.MaxAttempts = max(q.queueConfig(j.Queue).MaxAttempts, 1)
	}
	j.Attempts = max(j.Attempts, dv.attemptsBefore+dv.interrupted)
	j.RecordError(t, "dead-lettered by the broker: "+deathReason(dv.d.Headers))
	return &event{Kind: evJob, Host: q.host, Seq: seq, Gen: gen, Copy: dv.copy, Job: &j}
}

// deathReason is the broker's reason for dead-lettering a message, from
// its x-death headers.
func deathReason(h amqp.Table) string {
	if r, ok := h["x-first-death-reason"].(string); ok && r != "" {
		if r == "delivery_limit" {
			return "delivery_limit (its deliveries reached the queue's x-delivery-limit without an answer)"
		}
		return r
	}
	return "no reason given"
}

// sweepLoop sweeps every known queue's dead letters now and then, so that
// jobs the broker dead-lettered show as dead.
func (q *Queue) sweepLoop() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-q.closing:
			return
		case <-t.C:
		}
		if q.Health() != nil || q.opts.NoRecords {
			// A host that keeps no records cannot tell the dead letters
			// it knows from those it does not: the hosts that keep them
			// sweep.
			continue
		}
		if res, err := q.sweepDeadLetters("", true); err != nil {
			q.log.Warn("dead-letter sweep failed", "err", err)
		} else if res.Recorded > 0 || res.NewNotJobs > 0 {
			q.log.Warn("dead-letter sweep found jobs the broker dead-lettered", "recorded_dead", res.Recorded, "not_jobs", res.NewNotJobs)
		}
	}
}
