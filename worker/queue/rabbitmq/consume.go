package rabbitmq

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// deliveryState is this process's side of the queues it consumes and the
// jobs it holds; Queue.mu guards it.
type deliveryState struct {
	queues map[string]*queueState
	leased map[string]*lease
	// changed is closed and replaced whenever a record changes (Changed);
	// wake whenever a delivery arrives or a record changes, for a Lease
	// waiting for a job it knows is coming.
	changed chan struct{}
	wake    chan struct{}
}

func newDeliveryState() deliveryState {
	return deliveryState{
		queues:  map[string]*queueState{},
		leased:  map[string]*lease{},
		changed: make(chan struct{}),
		wake:    make(chan struct{}),
	}
}

// queueState is this process's side of one kiln queue.
type queueState struct {
	name   string
	attach bool  // consumed from the start (configured), or since its first lease
	on     *link // the link it is declared (and consumed) on
	// consuming is set while a consumer is being started or runs on on.
	consuming bool
	buf       []*delivered // delivered and due, not leased yet
	held      []*delivered // delivered before they are due
	// expect lists the jobs this process sent to the queue (submitted,
	// released, retried) and no one is known to hold yet, by when they
	// are due: a Lease with nothing in hand waits a little for them.
	expect map[string]time.Time
	timer  *time.Timer // fires when the first held job is due
}

// lease is a delivery handed out by Lease.
type lease struct {
	d     *delivered
	until time.Time
}

func (q *Queue) queueState(name string) *queueState {
	qs := q.queues[name]
	if qs == nil {
		qs = &queueState{name: name, expect: map[string]time.Time{}}
		q.queues[name] = qs
	}
	return qs
}

// unexpectLocked forgets an expected job; mu is held.
func (q *Queue) unexpectLocked(queue, id string) {
	if qs := q.queues[queue]; qs != nil {
		delete(qs.expect, id)
	}
}

// dropBufferedLocked acks away a delivered, not leased copy of a job that
// was cancelled; mu is held.
func (q *Queue) dropBufferedLocked(queue, id string) {
	qs := q.queues[queue]
	if qs == nil {
		return
	}
	keep := func(list []*delivered) []*delivered {
		out := list[:0]
		for _, d := range list {
			if d.job.ID == id {
				d.d.Ack(false)
				continue
			}
			out = append(out, d)
		}
		return out
	}
	qs.buf, qs.held = keep(qs.buf), keep(qs.held)
}

// ensureQueue declares a kiln queue on the current link, and starts
// consuming it when consume is set or the queue is attached.
func (q *Queue) ensureQueue(name string, consume bool) (*link, error) {
	q.mu.Lock()
	l := q.link
	if l == nil {
		q.mu.Unlock()
		return nil, q.unavailable("use queue " + name)
	}
	qs := q.queueState(name)
	if consume {
		qs.attach = true
	}
	declared := qs.on == l
	startConsumer := qs.attach && !(declared && qs.consuming)
	if startConsumer {
		qs.consuming = true
	}
	q.mu.Unlock()

	if !declared {
		if err := q.declareQueue(l, name); err != nil {
			q.mu.Lock()
			if startConsumer {
				qs.consuming = false
			}
			q.mu.Unlock()
			return nil, err
		}
		q.mu.Lock()
		q.declared[q.names.work(name)] = true
		q.declared[q.names.dead(name)] = true
		if q.link == l {
			qs.on = l
		}
		q.mu.Unlock()
	}
	if startConsumer {
		if err := q.consume(l, name); err != nil {
			q.mu.Lock()
			qs.consuming = false
			q.mu.Unlock()
			return nil, err
		}
	}
	return l, nil
}

// Consume starts consuming a kiln queue now, rather than at its first
// Lease: the broker then hands this process the queue's jobs (and those
// that a crashed process held) at once.
func (q *Queue) Consume(queue string) error {
	_, err := q.ensureQueue(queue, true)
	return err
}

// consume starts the consumer of a kiln queue: its own channel, manual
// acks, prefetch equal to the queue's concurrency.
func (q *Queue) consume(l *link, name string) error {
	ch, err := l.conn.Channel()
	if err != nil {
		return fmt.Errorf("open consumer channel for %s on %s: %w", q.names.work(name), l.url, err)
	}
	prefetch := max(q.queueConfig(name).Concurrency, 1)
	if err := ch.Qos(prefetch, 0, false); err != nil {
		ch.Close()
		return fmt.Errorf("set prefetch %d on %s: %w", prefetch, l.url, err)
	}
	deliveries, err := ch.Consume(q.names.work(name), "", false, false, false, false, nil)
	if err != nil {
		ch.Close()
		return fmt.Errorf("consume %s on %s: %w", q.names.work(name), l.url, err)
	}
	go func() {
		acks := newGroupedAcks(ch, q.log)
		for d := range deliveries {
			d.Acknowledger = acks
			q.onDelivery(l, name, d)
		}
		acks.close()
		// The channel ended while the connection lives on (the queue was
		// deleted, or the broker closed the channel): start over on a new
		// connection rather than run without a consumer.
		if !l.conn.IsClosed() {
			select {
			case <-q.closing:
			default:
				q.log.Error("consumer stopped; reconnecting", "queue", q.names.work(name))
				l.conn.Close()
			}
		}
	}()
	return nil
}

// onDelivery takes a job delivered by the broker into the queue's hands:
// due jobs wait for Lease, early ones are held or sent down the ladder,
// stale and cancelled copies are acked away, and a job that has used its
// attempts without ever answering ends dead.
func (q *Queue) onDelivery(l *link, queue string, d amqp.Delivery) {
	dv, err := decodeDelivery(d, queue)
	if err != nil {
		// Not a job: the broker dead-letters it into the queue's
		// dead-letter queue, where an operator can read it.
		q.log.Error("message in work queue is not a job; dead-lettered", "queue", q.names.work(queue), "message_id", d.MessageId, "err", err)
		d.Reject(false)
		return
	}
	if dv.foreign {
		if dv.job.ID == "" {
			q.adopt(l, dv)
			return
		}
		// A producer's message with its own job ID runs as it is: the
		// job's first generation, copy 0. A second message with the ID of
		// a job that has finished is taken for a producer's retry of an
		// unconfirmed publish, and acked away below.
		dv.gen = 1
	}
	j := dv.job
	if j.MaxAttempts < 1 {
		j.MaxAttempts = max(q.queueConfig(queue).MaxAttempts, 1)
	}
	used := dv.attemptsBefore + dv.interrupted
	if dv.interrupted > 0 && q.heldElsewhere(j.ID) {
		// A copy handed back because another process that held it died:
		// that holder may have finished it, published the end and died
		// before its ack. Read the records up to now before judging it,
		// or it runs again.
		q.catchUp(l)
		if err := q.knowJob(context.Background(), j.ID); err != nil {
			q.log.Warn("a job handed back is judged without the records of the hosts that keep them", "job", j.ID, "err", err)
		}
	}

	q.mu.Lock()
	if q.link != l {
		q.mu.Unlock()
		return // the channel is gone; the broker delivers it again
	}
	r := q.recordLocked(j.ID)
	stale := r != nil && (r.gen > dv.gen || (r.gen == dv.gen && r.copy > dv.copy) ||
		(r.gen == dv.gen && r.copy == dv.copy && r.job.State.Terminal()))
	if gen, ok := q.cancelled[j.ID]; ok && gen >= dv.gen {
		stale = true
	}
	if stale {
		q.unexpectLocked(queue, j.ID)
		q.forgetUnheldLocked(j.ID)
		q.mu.Unlock()
		d.Ack(false)
		return
	}
	dv.l = l
	switch q.knownCopyLocked(queue, dv, r) {
	case copyDuplicate:
		q.unexpectLocked(queue, j.ID)
		q.mu.Unlock()
		q.log.Info("a second message of a job that is held already; acked away", "job", j.ID, "queue", queue)
		d.Ack(false)
		return
	case copyTakenOver:
		q.mu.Unlock()
		return
	}
	// The job stays expected until it is in the buffer (or held, or sent
	// on): a Lease that found it in neither would end its wait without it.
	q.mu.Unlock()

	if dv.interrupted > 0 {
		j.Attempts = used
		j.RecordError(now(), fmt.Sprintf("attempt %d was interrupted: its worker stopped without answering", used))
		if used >= j.MaxAttempts {
			q.kill(l, dv, fmt.Sprintf("out of attempts: %d attempts were interrupted without an answer", used))
			return
		}
		q.noteInterrupted(dv)
	}
	if due := j.RunAt; time.Until(due) > 0 {
		if ladderStep(time.Until(due)) > 0 {
			// A job due within expectFor stays expected while it is on
			// the ladder: a Lease at its run_at then waits (leaseSettle)
			// for the broker to bring it back, which a busy broker does
			// later than holdMargin, rather than return without it.
			if time.Until(due) > expectFor {
				q.mu.Lock()
				q.unexpectLocked(queue, j.ID)
				q.mu.Unlock()
			}
			q.relay(l, dv, used)
			return
		}
		q.mu.Lock()
		if q.link == l {
			q.unexpectLocked(queue, j.ID)
			qs := q.queueState(queue)
			qs.held = append(qs.held, dv)
			q.armHoldTimerLocked(qs)
		}
		q.mu.Unlock()
		return
	}
	q.mu.Lock()
	if q.link == l {
		q.unexpectLocked(queue, j.ID)
		qs := q.queueState(queue)
		qs.buf = append(qs.buf, dv)
		q.wakeLocked()
	}
	q.mu.Unlock()
	q.signalReady()
}

// armHoldTimerLocked makes the queue's timer fire when its first held job
// is due; mu is held.
func (q *Queue) armHoldTimerLocked(qs *queueState) {
	var first time.Time
	for _, d := range qs.held {
		if first.IsZero() || d.job.RunAt.Before(first) {
			first = d.job.RunAt
		}
	}
	if first.IsZero() {
		return
	}
	if qs.timer != nil {
		qs.timer.Stop()
	}
	qs.timer = time.AfterFunc(time.Until(first), func() {
		q.mu.Lock()
		moved := q.releaseHeldLocked(qs)
		q.armHoldTimerLocked(qs)
		q.mu.Unlock()
		if moved {
			q.signalReady()
		}
	})
}

// releaseHeldLocked moves held jobs that are due to the buffer; mu is held.
func (q *Queue) releaseHeldLocked(qs *queueState) bool {
	t := time.Now()
	moved := false
	out := qs.held[:0]
	for _, d := range qs.held {
		if !d.job.RunAt.After(t) {
			qs.buf = append(qs.buf, d)
			moved = true
			continue
		}
		out = append(out, d)
	}
	qs.held = out
	if moved {
		q.wakeLocked()
	}
	return moved
}

// relay sends an early job down the ladder again and acks the copy in
// hand once the new one is confirmed.
func (q *Queue) relay(l *link, dv *delivered, used int) {
	j := dv.job
	c, err := q.jobCopy(l, j, used, dv.gen, dv.copy)
	if err == nil {
		_, err = q.publishEach(l, []outgoing{c})
	}
	if err != nil {
		q.log.Error("could not send an early job back to wait; it is delivered again", "job", j.ID, "err", err)
		d := dv.d
		d.Nack(false, true)
		return
	}
	dv.d.Ack(false)
}

// kill ends a job that used its attempts without answering: dead, in the
// dead-letter queue and the records.
func (q *Queue) kill(l *link, dv *delivered, reason string) {
	j := dv.job
	t := now()
	j.State, j.LastError, j.FinishedAt, j.UpdatedAt, j.LeaseUntil = worker.StateDead, reason, t, t, time.Time{}
	q.mu.Lock()
	seq := q.nextSeqLocked(j.ID)
	q.mu.Unlock()
	ev := &event{Kind: evJob, Host: q.host, Seq: seq, Gen: dv.gen, Copy: dv.copy, Job: j}
	err := q.publishWith(l, []outgoing{q.deadCopy(j, dv.gen, seq)}, ev)
	if err == nil {
		q.mu.Lock()
		q.applyOwnLocked(ev)
		q.mu.Unlock()
	}
	if err != nil {
		q.log.Error("could not dead-letter a job out of attempts; it is delivered again", "job", j.ID, "err", err)
		dv.d.Nack(false, true)
		return
	}
	q.log.Error("job dead", "job", j.ID, "queue", j.Queue, "err", reason)
	dv.d.Ack(false)
}

// noteInterrupted records that a job's attempt was cut short, so that
// every host shows it waiting again rather than running.
func (q *Queue) noteInterrupted(dv *delivered) {
	q.mu.Lock()
	r := q.recordLocked(dv.job.ID)
	if r == nil || r.job.State != worker.StateRunning || r.gen != dv.gen {
		q.mu.Unlock()
		return
	}
	j := *dv.job
	j.State, j.UpdatedAt, j.LeaseUntil = worker.StateQueued, now(), time.Time{}
	ev := &event{Kind: evJob, Host: q.host, Seq: r.seq + 1, Gen: dv.gen, Copy: dv.copy, Job: &j}
	q.applyOwnLocked(ev)
	l := q.link
	q.mu.Unlock()
	q.sendEventsLater(l, ev)
}

// adopt takes in a job published by another client than kiln without a
// job ID: it gets one and kiln's headers, is published again as kiln's own
// copy, and its queued event is published, before the original is acked,
// so that every delivery of it is the same job.
func (q *Queue) adopt(l *link, dv *delivered) {
	j := dv.job
	q.fillNew(j, now())
	j.Priority, j.Errors, j.LastError, j.Result = 0, nil, "", nil
	q.mu.Lock()
	seq := q.nextSeqLocked(j.ID)
	q.mu.Unlock()
	ev := &event{Kind: evJob, Host: q.host, Seq: seq, Gen: 1, Copy: seq, Job: j}
	c, err := q.jobCopy(l, j, dv.interrupted, 1, seq)
	if err == nil {
		err = q.publishWith(l, []outgoing{c}, ev)
		if err == nil {
			q.mu.Lock()
			q.applyOwnLocked(ev)
			q.queueState(j.Queue).expect[j.ID] = j.RunAt
			q.mu.Unlock()
		}
	}
	if err != nil {
		q.log.Error("could not take in a job published by another client; it is delivered again", "queue", j.Queue, "err", err)
		dv.d.Nack(false, true)
		return
	}
	dv.d.Ack(false)
}

// heldElsewhere reports whether the last change of a job known here was
// another process's (or the job is not known here).
func (q *Queue) heldElsewhere(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.recordLocked(id)
	return r == nil || r.host != q.host
}
