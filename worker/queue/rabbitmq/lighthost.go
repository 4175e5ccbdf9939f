package rabbitmq

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// A host that keeps no job records (Options.NoRecords, the config's
// [broker] keep_records = false) runs jobs and takes submits like any
// other, but does not read the records stream: reading and storing every
// event of the fleet is most of what each added host costs. It follows
// the control stream instead (cancels, pauses and resumes, and the sync
// markers; a few events per operator action, none per job), keeps a
// record only of a job in its hands, and asks a host that keeps records
// (join.go's questions) for anything else: a job, a listing, the counts.
// It leads nothing (admission, webhooks, retention need every record),
// sweeps no dead-letter queue and purges nothing; with no host that
// keeps records up, its lookups answer 503.

// control is the stream of the control events every host follows: bound
// to the events exchange for the control keys alone, it holds no event
// of any job's progress.
func (n names) control() string { return n.prefix + ".control" }

// controlKinds are the events a host that keeps no records needs.
var controlKinds = []string{evCancel, evPause, evResume, evSync}

// controlMaxBytes bounds the control stream: a cancel is a few hundred
// bytes, and a host reads it from its start at every start.
const (
	controlMaxBytes     = 64 << 20
	controlSegmentBytes = 4 << 20
)

// declareControl declares the control stream and binds it.
func (q *Queue) declareControl(ch *amqp.Channel, url string) error {
	n := q.names
	if _, err := ch.QueueDeclare(n.control(), true, false, false, false, amqp.Table{
		"x-queue-type":                    "stream",
		"x-max-length-bytes":              int64(controlMaxBytes),
		"x-stream-max-segment-size-bytes": int64(controlSegmentBytes),
	}); err != nil {
		return fmt.Errorf("declare stream %s on %s: %w", n.control(), url, err)
	}
	for _, kind := range controlKinds {
		key := "control." + kind
		if err := ch.QueueBind(n.control(), key, n.eventsExchange(), false, nil); err != nil {
			return fmt.Errorf("bind stream %s to %s for %s on %s: %w", n.control(), n.eventsExchange(), key, url, err)
		}
	}
	return nil
}

// followed is the stream this host's records reader follows.
func (q *Queue) followed() string {
	if q.opts.NoRecords {
		return q.names.control()
	}
	return q.names.records()
}

// readsBack reports whether an event message published under key comes
// back to this host's reader, which then checks that it was not lost.
func (q *Queue) readsBack(key string) bool {
	if !q.opts.NoRecords {
		return true
	}
	for _, kind := range controlKinds {
		if key == "control."+kind {
			return true
		}
	}
	return false
}

// asksOthers reports whether this host answers lookups by asking a host
// that keeps records: it keeps none, or it joined and has not read the
// past yet; mu is held.
func (q *Queue) asksOthersLocked() bool { return q.opts.NoRecords || q.past != nil }

func (q *Queue) asksOthers() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.asksOthersLocked()
}

// forgetUnheldLocked drops the record of a job that is not in this
// host's hands, on a host that keeps no records; mu is held.
func (q *Queue) forgetUnheldLocked(id string) {
	if !q.opts.NoRecords {
		return
	}
	if _, held := q.leased[id]; held {
		return
	}
	r := q.records[id]
	if r == nil {
		return
	}
	q.count(r.job.Queue, r.job.State, -1)
	delete(q.waiting[waitKey{r.job.Queue, r.job.State}], id)
	q.unindexUniqueLocked(r)
	delete(q.records, id)
	delete(q.dirty, id)
}

// refusedWithoutRecords is the refusal of what needs every record on a
// host that keeps none.
func refusedWithoutRecords(op string) error {
	return fmt.Errorf("%s: %w: this kilnd keeps no job records ([broker] keep_records = false); run it on a host that keeps them", op, worker.ErrNotSupported)
}

func (q *Queue) forgetUnheld(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.forgetUnheldLocked(id)
}
