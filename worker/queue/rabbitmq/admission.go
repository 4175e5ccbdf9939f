package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// The admission lead: jobs with a unique key are admitted by one host at
// a time, the holder of the lead, which every other host asks (a request
// on the admit queue, answered by direct reply-to). It decides from its
// records, which it has read up to the moment it took the lead, so that
// it knows every job the last leader admitted: a job's queued event is
// confirmed before its message is published (submit.go), and so before
// the leader answers.
//
// Two leaders cannot both admit: a leader loses the lead when its
// connection is lost, and every admission publishes through that
// connection, so a leader that lost it can no longer admit anything.

// admissionLead is the name of the lead.
const admissionLead = "admission"

// admitWithin bounds the wait for the leader's answer. A request not
// taken within admitTTL expires on the broker, before its asker gives up;
// one taken late may still be admitted after its asker was told the
// backend is unavailable, and the unique key makes the asker's next try
// a duplicate of that job, not a second one.
const (
	admitWithin = 15 * time.Second
	admitTTL    = 10 * time.Second
)

// admitDeliveries is the admit queue's x-delivery-limit: a request that
// kills every leader that takes it must not go round for ever.
const admitDeliveries = 4

// admitRequest asks the leader to admit jobs: all or none, or each on its
// own (SubmitEach). The jobs carry their IDs, so that a request a next
// leader takes again (the first died before it answered) admits the same
// jobs, not copies.
type admitRequest struct {
	Jobs []*worker.JobRecord `json:"jobs"`
	Each bool                `json:"each,omitempty"`
	// Once asks for SubmitOnce's rule: a job whose ID the records know
	// is that job, a duplicate, and is not added again.
	Once bool `json:"once,omitempty"`
}

// admitAnswer is the leader's answer: each job as admitted, or as the
// job that holds its key (Duplicate); Errors with Each, Error for a batch.
type admitAnswer struct {
	Host      string              `json:"host"` // the leader, publisher of the queued events
	Jobs      []*worker.JobRecord `json:"jobs,omitempty"`
	Duplicate []bool              `json:"duplicate,omitempty"`
	Errors    []*wireError        `json:"errors,omitempty"`
	Error     *wireError          `json:"error,omitempty"`
}

// admission is this process's side of the lead.
type admission struct {
	// decide serialises the decisions of this process while it leads.
	decide  sync.Mutex
	leading atomic.Bool
	done    chan struct{} // closed when the lead's goroutine ended
}

// hasUniqueKey reports whether any job has a unique key.
func hasUniqueKey(jobs []*worker.JobRecord) bool {
	for _, j := range jobs {
		if j.UniqueKey != "" {
			return true
		}
	}
	return false
}

// runAdmission competes for the admission lead until the Queue closes.
func (q *Queue) runAdmission() {
	defer close(q.admission.done)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-q.closing
		cancel()
	}()
	q.Lead(ctx, admissionLead, func(ctx context.Context, _ worker.LeadState) { q.serveAdmission(ctx) })
}

// declareAdmit declares the queue of admission requests.
func (q *Queue) declareAdmit(l *link) error {
	err := l.declare(func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(q.names.admit(), true, false, false, false, amqp.Table{
			"x-queue-type":     "quorum",
			"x-message-ttl":    admitTTL.Milliseconds(),
			"x-delivery-limit": int64(admitDeliveries),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("declare queue %s on %s: %w", q.names.admit(), l.url, err)
	}
	q.mu.Lock()
	q.declared[q.names.admit()] = true
	q.mu.Unlock()
	return nil
}

// serveAdmission answers admission requests while this process leads.
func (q *Queue) serveAdmission(ctx context.Context) {
	// Lead waited for the first sync before competing for the lead.
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	if l == nil {
		return
	}
	// What the last leader admitted is in the records once they are read
	// up to now.
	if err := q.readToNow(l, "admission", catchUpWithin); err != nil {
		q.log.Warn("admission lead let go: records not read up to now", "err", err)
		return
	}
	if err := q.declareAdmit(l); err != nil {
		q.log.Warn("admission lead let go", "err", err)
		return
	}
	ch, requests, err := consumeRequests(l, q.names.admit(), 64)
	if err != nil {
		q.log.Warn("admission lead let go", "err", err)
		return
	}
	defer ch.Close()
	q.admission.leading.Store(true)
	defer q.admission.leading.Store(false)
	for {
		select {
		case <-ctx.Done():
			return
		case d, ok := <-requests:
			if !ok {
				return
			}
			// A request asked again is answered from the records.
			q.reply(ch, d, q.answerAdmission(d.Body, d.Redelivered))
		}
	}
}

// answerAdmission decides one request and encodes the answer.
func (q *Queue) answerAdmission(body []byte, redelivered bool) []byte {
	var req admitRequest
	ans := admitAnswer{Host: q.host}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Jobs) == 0 {
		ans.Error = toWire(fmt.Errorf("admission request: %w: not a list of jobs", worker.ErrNotSupported))
	} else {
		dup, errs, err := q.admit(req.Jobs, admitHow{each: req.Each, once: req.Once, redelivered: redelivered})
		ans.Jobs, ans.Duplicate, ans.Error = req.Jobs, dup, toWire(err)
		for _, e := range errs {
			ans.Errors = append(ans.Errors, toWire(e))
		}
	}
	b, err := json.Marshal(ans)
	if err != nil {
		b, _ = json.Marshal(admitAnswer{Host: q.host, Error: toWire(fmt.Errorf("encode admission answer: %w", err))})
	}
	return b
}

// admit decides jobs with unique keys here, as the leader: a job whose key
// an unfinished job of its queue holds (or an earlier job of the same
// request) becomes that job and is not added; the others are published.
// Before it calls a key held, the leader reads the records up to now, as
// the holder may have finished a moment ago on another host.
//
// A job that is a duplicate of one whose message may never have been
// published gets it published (unpublished.go).
//
// Only a request the broker hands out again (its first leader died before
// it acked) can name jobs already admitted, and a SubmitOnce names its own
// IDs: only then is each job looked up, which for a job not in memory
// reads the records file.
func (q *Queue) admit(jobs []*worker.JobRecord, how admitHow) ([]bool, []error, error) {
	each := how.each
	q.admission.decide.Lock()
	defer q.admission.decide.Unlock()
	dup := make([]bool, len(jobs))
	firstOf := map[uniqueRef]int{}
	sameAs := map[int]int{}
	var fresh []*worker.JobRecord
	var at []int
	var held []string // the jobs that some are duplicates of
	readUp := false
	for i, j := range jobs {
		if j.UniqueKey != "" {
			ref := uniqueRefOf(j)
			if first, ok := firstOf[ref]; ok {
				sameAs[i] = first
				continue
			}
			holder := q.uniqueHolder(ref)
			if holder != nil && !readUp {
				q.mu.Lock()
				l := q.link
				q.mu.Unlock()
				if err := q.readToNow(l, "admit", catchUpWithin); err != nil {
					q.log.Warn("deciding a unique key from records not read up to now", "queue", j.Queue, "key", j.UniqueKey, "err", err)
				}
				readUp = true
				holder = q.uniqueHolder(ref)
			}
			if holder != nil && holder.ID != j.ID {
				*j, dup[i] = *holder, true
				held = append(held, holder.ID)
				continue
			}
			firstOf[ref] = i
		}
		if how.once {
			if known, gone := q.knownOrPurged(j.ID); known != nil || gone {
				if known != nil {
					*j = *known
					held = append(held, known.ID)
				}
				dup[i] = true
				continue
			}
		}
		if how.redelivered {
			if known := q.knownJob(j.ID); known != nil {
				// Asked again (the leader that took it first died before
				// it answered): admitted then.
				*j = *known
				continue
			}
		}
		fresh, at = append(fresh, j), append(at, i)
	}
	var errs []error
	var err error
	if each {
		errs = make([]error, len(jobs))
		for k, e := range q.publishNewEach(fresh) {
			errs[at[k]] = e
		}
	} else {
		err = q.publishNew(fresh)
	}
	q.publishUnpublished(held)
	for i, first := range sameAs {
		if (each && errs[first] != nil) || err != nil {
			if each {
				errs[i] = errs[first]
			}
			continue
		}
		*jobs[i], dup[i] = *jobs[first], true
	}
	return dup, errs, err
}

// uniqueHolder is the unfinished job that holds a unique key, nil if none.
func (q *Queue) uniqueHolder(ref uniqueRef) *worker.JobRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.uniqueHolderLocked(ref)
}

// admitHow is how a request is decided: each job on its own (SubmitEach),
// by SubmitOnce's rule, and whether the broker handed it out again.
type admitHow struct{ each, once, redelivered bool }

// knownOrPurged is the record of a job, or gone when the records knew it
// and it was purged since.
func (q *Queue) knownOrPurged(id string) (known *worker.JobRecord, gone bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r, gone := q.knownLocked(id)
	if r != nil {
		return r.snapshot(), false
	}
	return nil, gone
}

// knownJob is the record of a job, nil if there is none.
func (q *Queue) knownJob(id string) *worker.JobRecord {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r := q.recordLocked(id); r != nil {
		return r.snapshot()
	}
	return nil
}

// submitUnique has jobs admitted: here when this process leads, else by
// asking the leader. The admitted jobs go into this process's records at
// once, so that a Get right after the submit knows them.
func (q *Queue) submitUnique(ctx context.Context, jobs []*worker.JobRecord, each bool) ([]bool, []error, error) {
	return q.submitAdmitted(ctx, jobs, admitHow{each: each})
}

// submitAdmitted has jobs admitted by the admission leader, decided as how
// says.
func (q *Queue) submitAdmitted(ctx context.Context, jobs []*worker.JobRecord, how admitHow) ([]bool, []error, error) {
	each := how.each
	t := now()
	for _, j := range jobs {
		if j.ID == "" {
			j.ID = newID(t)
		}
	}
	if q.admission.leading.Load() {
		return q.admit(jobs, how)
	}
	body, err := json.Marshal(admitRequest{Jobs: jobs, Each: each, Once: how.once})
	if err != nil {
		return nil, nil, fmt.Errorf("submit: encode admission request: %w", err)
	}
	if len(body) > maxEventMessageBytes {
		return nil, nil, fmt.Errorf("submit: %w: a batch with unique keys is at most %d MiB (this one is %d bytes); send it in parts",
			worker.ErrNotSupported, maxEventMessageBytes>>20, len(body))
	}
	reply, err := q.call(ctx, q.names.admit(), body, admitWithin)
	if err != nil {
		return nil, nil, fmt.Errorf("submit %s: %w: no answer from the admission leader: %v", admittedWhat(how), worker.ErrUnavailable, err)
	}
	var ans admitAnswer
	if err := json.Unmarshal(reply, &ans); err != nil || len(ans.Jobs) != len(jobs) && ans.Error == nil {
		return nil, nil, fmt.Errorf("submit %s: %w: the admission leader's answer does not read: %v", admittedWhat(how), worker.ErrUnavailable, err)
	}
	if ans.Error != nil {
		return nil, nil, ans.Error.err()
	}
	var errs []error
	if each {
		errs = make([]error, len(jobs))
		for i := range errs {
			if i < len(ans.Errors) && ans.Errors[i] != nil {
				errs[i] = ans.Errors[i].err()
			}
		}
	}
	dup := make([]bool, len(jobs))
	var admitted []*event
	for i, j := range jobs {
		dup[i] = i < len(ans.Duplicate) && ans.Duplicate[i]
		if errs != nil && errs[i] != nil {
			continue
		}
		*j = *ans.Jobs[i]
		if dup[i] {
			// The leader answers from its records; this host's may be
			// a step ahead (it runs the job).
			if mine := q.knownJob(j.ID); mine != nil && mine.UpdatedAt.After(j.UpdatedAt) {
				*j = *mine
			}
		}
		if !dup[i] && (j.State == worker.StateQueued || j.State == worker.StateScheduled) {
			snap := *j
			admitted = append(admitted, &event{Kind: evJob, Host: ans.Host, Seq: 1, Gen: 1, Copy: 1, Job: &snap})
		}
	}
	q.mu.Lock()
	for _, ev := range admitted {
		if r := q.records[ev.Job.ID]; r == nil {
			q.apply(ev)
		}
	}
	q.mu.Unlock()
	return dup, errs, nil
}

// wireError carries an error across hosts with the kind of failure the
// callers test for.
type wireError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

var wireKinds = map[string]error{
	"queue_full":    worker.ErrQueueFull,
	"unavailable":   worker.ErrUnavailable,
	"not_supported": worker.ErrNotSupported,
	"wrong_state":   worker.ErrWrongState,
	"not_found":     worker.ErrNotFound,
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	for kind, target := range wireKinds {
		if errors.Is(err, target) {
			return &wireError{Kind: kind, Message: err.Error()}
		}
	}
	return &wireError{Kind: "error", Message: err.Error()}
}

// err is the error again, as errors.Is sees it on the host that sent it.
func (w *wireError) err() error {
	return &remoteError{msg: w.Message, kind: wireKinds[w.Kind]}
}

type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// admittedWhat names, for an error, what was asked to be admitted.
func admittedWhat(how admitHow) string {
	if how.once {
		return "under a chosen ID"
	}
	return "with unique_key"
}
