package rabbitmq

import (
	"encoding/json"
	"time"

	"kiln/worker"
)

// recordSet is what this process knows of jobs and queues from the events
// it read, with the indexes kept beside the records; Queue.mu guards it.
// Records of finished jobs may have left memory for the records file
// (recordFile); recordLocked finds a record wherever it is.
type recordSet struct {
	records map[string]*record              // those in memory
	counts  map[string]map[worker.State]int // per queue, by state
	// waiting indexes the records of the jobs that wait to run (queued,
	// scheduled, retrying) by queue and state, so that Stats and Lease
	// need not look at every record.
	waiting   map[waitKey]map[string]*record
	unique    map[uniqueRef]string // unique key → the unfinished job holding it (uniquekeys.go)
	paused    map[string]bool
	cancelled map[string]int // job ID → generation cancelled
	purged    map[string]int // job ID → generation whose record was purged (not yet written to the file)
	notJobs   map[string]int // per queue, the dead letters that are not jobs (deadletters.go)
}

func newRecordSet() recordSet {
	return recordSet{
		records:   map[string]*record{},
		counts:    map[string]map[worker.State]int{},
		waiting:   map[waitKey]map[string]*record{},
		unique:    map[uniqueRef]string{},
		paused:    map[string]bool{},
		cancelled: map[string]int{},
		purged:    map[string]int{},
		notJobs:   map[string]int{},
	}
}

// Every job state change is an event on the events exchange, routed as
// "<queue>.<state>" (applications may bind their own queues to follow
// jobs); pause, resume, cancel and purge are control events routed as
// "control.<kind>". The records stream holds them all, and every kilnd
// reads it from the start and then follows it, so that each one knows
// every job whichever host submitted or ran it.
type event struct {
	Kind  string            `json:"kind"` // one of the ev* constants
	Host  string            `json:"host"` // the kilnd that published it
	Seq   uint64            `json:"seq,omitempty"`
	Gen   int               `json:"gen,omitempty"`
	Copy  uint64            `json:"copy,omitempty"` // the job message copy that is current
	Job   *worker.JobRecord `json:"job,omitempty"`
	ID    string            `json:"id,omitempty"`
	Queue string            `json:"queue,omitempty"`
	// From is the job's state before this change, as its publisher knew
	// it ("" for a new job): the event log's From.
	From worker.State `json:"from,omitempty"`
	// Marker identifies a sync event: its publisher has read every event
	// before it once it reads the marker back.
	Marker string `json:"marker,omitempty"`
}

const (
	evJob    = "job"    // Job is the job's new state
	evCancel = "cancel" // Job is the job as its canceller saw it after the cancel
	evPurge  = "purge"  // ID was deleted
	evPause  = "pause"  // Queue stops leasing on every host
	evResume = "resume"
	evSync   = "sync"
)

// setFrom gives a job event without a From the state of r, the job's
// record before the event, when r is older and in another state.
func setFrom(e *event, r *record) {
	if e.Job != nil && e.From == "" && r != nil && r.seq < e.Seq && r.job.State != e.Job.State {
		e.From = r.job.State
	}
}

// jobID is the job an event is about ("" for pause, resume and sync).
func (e *event) jobID() string {
	if e.Job != nil {
		return e.Job.ID
	}
	return e.ID
}

// routingKey is where an event is published on the events exchange.
func (e *event) routingKey() string {
	if e.Kind == evJob {
		return e.Job.Queue + "." + string(e.Job.State)
	}
	return "control." + e.Kind
}

// record is what this process knows of one job.
//
// Three numbers order what is known of a job, whichever host said it:
//   - gen, the generation, goes up when a dead or cancelled job is retried:
//     a copy or event of an older generation is stale;
//   - seq goes up with every change of the job within a generation: an
//     event older than the record's (events of one job can arrive out of
//     order, from two hosts or two groups) only lends its payload;
//   - copy names the message of the job that is current: the seq at which
//     it was published. A delivered message of an older copy, or of the
//     current copy once the job has finished, is acked away as stale
//     (onDelivery); two messages of one copy are the dedupe rules'
//     (dedupe.go).
type record struct {
	job  worker.JobRecord
	seq  uint64 // raised by every change; an older event never undoes a newer
	gen  int
	copy uint64 // the current message copy of the job (seq when published)
	host string // who made the last change
	// resent is set once this process published the job's message again
	// because it may never have been published (unpublished.go).
	resent bool
	// changed is when this process last applied a change to it: a
	// finished job's record leaves memory residentFor after it.
	changed time.Time
	// inFile is how the records file holds the job (recordstore.go), so
	// that a write touches only the indexes that change.
	inFile fileIndex
}

func (r *record) snapshot() *worker.JobRecord {
	j := r.job
	j.Errors = append([]worker.AttemptError(nil), r.job.Errors...)
	return &j
}

// applyLocked applies an event read from the records stream; mu is held.
// This process's own events were applied when they were published, and
// are skipped when read back.
func (q *Queue) applyLocked(e *event) {
	if e.Host == q.host && q.synced && e.Kind != evSync {
		return
	}
	q.applyWatched(e)
}

// applyOwnLocked applies an event this process published; mu is held.
func (q *Queue) applyOwnLocked(e *event) { q.applyWatched(e) }

// nextSeqLocked is the sequence number of a job's next change; mu is held.
func (q *Queue) nextSeqLocked(id string) uint64 {
	if r := q.recordLocked(id); r != nil {
		return r.seq + 1
	}
	return 1
}

// apply changes the records by one event, keeping the per-queue counts;
// mu is held.
func (q *Queue) apply(e *event) {
	id := e.ID
	if e.Job != nil {
		id = e.Job.ID
	}
	defer q.forgetUnheldLocked(id)
	if r := q.recordLocked(id); r != nil {
		q.count(r.job.Queue, r.job.State, -1)
		delete(q.waiting[waitKey{r.job.Queue, r.job.State}], id)
		q.unindexUniqueLocked(r)
		// An event applied here before it is published tells the event
		// log where its job came from.
		setFrom(e, r)
	}
	q.change(e)
	if r := q.records[id]; r != nil {
		// The change's own time, not this process's: a host reading a
		// long history lets the records of its past go as it reads.
		r.changed = r.job.UpdatedAt
		if r.changed.IsZero() {
			r.changed = time.Now()
		}
		q.dirty[id] = struct{}{}
		q.count(r.job.Queue, r.job.State, +1)
		q.indexWaitingLocked(r)
		q.indexUniqueLocked(r)
	}
}

// waitKey names the jobs of one queue in one waiting state.
type waitKey struct {
	queue string
	state worker.State
}

func (q *Queue) count(queue string, state worker.State, delta int) {
	c := q.counts[queue]
	if c == nil {
		c = map[worker.State]int{}
		q.counts[queue] = c
	}
	c[state] += delta
}

// change applies one event to the records; mu is held.
func (q *Queue) change(e *event) {
	switch e.Kind {
	case evJob:
		if e.Job == nil {
			return
		}
		r := q.records[e.Job.ID]
		if r != nil && (e.Seq < r.seq || e.Gen < r.gen) {
			// Events of one job can arrive out of order (they go out in
			// groups, side by side): an older one still brings the payload
			// that the newer lean ones left out.
			if noPayload(r.job.Payload) {
				r.job.Payload = e.Job.Payload
			}
			return
		}
		cancelRequested := r != nil && r.job.CancelRequested && r.gen == e.Gen
		if r == nil {
			r = &record{}
			q.records[e.Job.ID] = r
		}
		payload := r.job.Payload
		r.job, r.seq, r.gen, r.host = *e.Job, e.Seq, e.Gen, e.Host
		if noPayload(r.job.Payload) {
			r.job.Payload = payload
		}
		if e.Copy > 0 {
			r.copy = e.Copy
		}
		if cancelRequested && r.job.State == worker.StateRunning {
			r.job.CancelRequested = true
		}
		if r.job.State != worker.StateQueued {
			q.unexpectLocked(r.job.Queue, r.job.ID)
		}
	case evCancel:
		if e.Job == nil {
			return
		}
		if gen, ok := q.cancelled[e.Job.ID]; !ok || gen < e.Gen {
			q.cancelled[e.Job.ID] = e.Gen
		}
		r := q.records[e.Job.ID]
		if r == nil && q.opts.NoRecords {
			// Not in this host's hands: only a copy it may hold waiting.
			q.unexpectLocked(e.Job.Queue, e.Job.ID)
			q.dropBufferedLocked(e.Job.Queue, e.Job.ID)
			break
		}
		switch {
		case r != nil && r.gen > e.Gen:
			return
		case r != nil && r.job.State == worker.StateRunning:
			// The canceller may not have known it runs: whoever runs it
			// stops it, and it ends cancelled.
			r.job.CancelRequested = true
			if _, here := q.leased[e.Job.ID]; here && q.opts.OnCancel != nil {
				go q.opts.OnCancel(e.Job.ID)
			}
		case r != nil && r.job.State.Terminal():
			return
		default:
			if r == nil {
				r = &record{}
				q.records[e.Job.ID] = r
			}
			r.job, r.seq, r.gen, r.host = *e.Job, max(e.Seq, r.seq), e.Gen, e.Host
			q.unexpectLocked(r.job.Queue, r.job.ID)
			q.dropBufferedLocked(r.job.Queue, r.job.ID)
		}
	case evPurge:
		if r := q.recordLocked(e.ID); r != nil && r.job.State.Terminal() {
			delete(q.records, e.ID)
			delete(q.dirty, e.ID)
			// A dead-letter copy of the job may outlive its record: the
			// tombstone tells a sweep to drop it rather than take it for
			// a job dead-lettered by the broker.
			q.purged[e.ID] = r.gen
		}
	case evPause:
		q.markLiveLocked(e.Queue)
		q.paused[e.Queue] = true
	case evResume:
		q.markLiveLocked(e.Queue)
		if q.paused[e.Queue] {
			delete(q.paused, e.Queue)
			q.signalReady()
		}
	case evSync:
		if seen := q.markerSeen[e.Marker]; seen != nil && e.Host == q.host {
			close(seen)
			delete(q.markerSeen, e.Marker)
		}
		return
	}
	q.changedLocked()
}

// noPayload reports whether an event's job came without its payload.
func noPayload(p json.RawMessage) bool {
	return len(p) == 0 || string(p) == "null"
}
