package local

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

// Buckets. Every job has its record in jobs and one entry in byState; the
// other indexes hold a job only while its state needs it:
//
//	ready    queue \0 priority(2, inverted) id   queued jobs, leased from the front
//	waiting  queue \0 run_at(8) id               scheduled and retrying jobs
//	leases   lease_until(8) id                   running jobs, oldest lease first
//	byState  state(1) queue \0 id                every job, for listing and purging
//	unique   queue \0 unique_key -> id           unfinished jobs with a unique_key
//	counts   queue \0 state(1) -> uint64         so status never reads every job
var (
	bucketMeta    = []byte("meta")
	bucketJobs    = []byte("jobs")
	bucketReady   = []byte("ready")
	bucketWaiting = []byte("waiting")
	bucketLeases  = []byte("leases")
	bucketByState = []byte("by_state")
	bucketUnique  = []byte("unique")
	bucketCounts  = []byte("counts")
	// Payloads never change, so they live apart from the records that
	// change at every step: a lease or a completion then rewrites a small
	// record instead of the whole payload.
	bucketPayloads = []byte("payloads")
	allBuckets     = [][]byte{bucketJobs, bucketReady, bucketWaiting, bucketLeases, bucketByState, bucketUnique, bucketCounts, bucketPayloads, bucketEvents}

	keyVersion   = []byte("version")
	prefixPaused = "paused\x00"
)

var stateCodes = map[worker.State]byte{
	worker.StateScheduled: 1, worker.StateQueued: 2, worker.StateRunning: 3, worker.StateRetrying: 4,
	worker.StateSucceeded: 5, worker.StateDead: 6, worker.StateCancelled: 7,
}

var stateByCode = func() map[byte]worker.State {
	m := map[byte]worker.State{}
	for s, c := range stateCodes {
		m[c] = s
	}
	return m
}()

// txn wraps a write transaction with the index upkeep, so that a state
// change is one call and indexes cannot drift from records.
type txn struct {
	tx *bbolt.Tx
	// counts gathers count changes until the commit, when each counter
	// is written once (nil: written at once).
	counts *countDeltas
	// noEvents leaves the event log alone (see Store.OmitEvents).
	noEvents bool
	// written gathers the events of the commit being built, which the
	// commit stores as one group and then keeps in memory (nil: each event
	// is stored as it is made).
	written *[]worker.Event
}

// appendFill is the fill of pages in buckets whose keys mostly grow at the
// end (job IDs are time-ordered): bbolt's default of half-full pages would
// double the file for nothing.
const appendFill = 0.9

func (t txn) b(name []byte) *bbolt.Bucket {
	b := t.tx.Bucket(name)
	if t.tx.Writable() && (&name[0] == &bucketJobs[0] || &name[0] == &bucketByState[0] || &name[0] == &bucketPayloads[0]) {
		b.FillPercent = appendFill
	}
	return b
}

func queuePrefix(queue string) []byte { return append([]byte(queue), 0) }

func readyKey(j *worker.JobRecord) []byte {
	k := queuePrefix(j.Queue)
	k = binary.BigEndian.AppendUint16(k, uint16(worker.MaxPriority-j.Priority))
	return append(k, j.ID...)
}

func waitingKey(j *worker.JobRecord) []byte {
	k := queuePrefix(j.Queue)
	k = binary.BigEndian.AppendUint64(k, uint64(j.RunAt.UnixNano()))
	return append(k, j.ID...)
}

func leaseKey(j *worker.JobRecord) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(j.LeaseUntil.UnixNano()))
	return append(k, j.ID...)
}

func byStateKey(j *worker.JobRecord) []byte {
	k := []byte{stateCodes[j.State]}
	k = append(k, j.Queue...)
	k = append(k, 0)
	return append(k, j.ID...)
}

func uniqueKey(j *worker.JobRecord) []byte { return append(queuePrefix(j.Queue), j.UniqueKey...) }

func countKey(queue string, s worker.State) []byte {
	return append(queuePrefix(queue), stateCodes[s])
}

// index adds j to the indexes its state calls for and counts it.
func (t txn) index(j *worker.JobRecord) error {
	var err error
	switch j.State {
	case worker.StateQueued:
		err = t.b(bucketReady).Put(readyKey(j), nil)
	case worker.StateScheduled, worker.StateRetrying:
		err = t.b(bucketWaiting).Put(waitingKey(j), nil)
	case worker.StateRunning:
		err = t.b(bucketLeases).Put(leaseKey(j), nil)
	}
	if err != nil {
		return err
	}
	if j.UniqueKey != "" && !j.State.Terminal() {
		if err := t.b(bucketUnique).Put(uniqueKey(j), []byte(j.ID)); err != nil {
			return err
		}
	}
	if err := t.b(bucketByState).Put(byStateKey(j), nil); err != nil {
		return err
	}
	return t.count(j.Queue, j.State, 1)
}

// unindex removes j from every index, using its current field values.
func (t txn) unindex(j *worker.JobRecord) error {
	var err error
	switch j.State {
	case worker.StateQueued:
		err = t.b(bucketReady).Delete(readyKey(j))
	case worker.StateScheduled, worker.StateRetrying:
		err = t.b(bucketWaiting).Delete(waitingKey(j))
	case worker.StateRunning:
		err = t.b(bucketLeases).Delete(leaseKey(j))
	}
	if err != nil {
		return err
	}
	if j.UniqueKey != "" && !j.State.Terminal() {
		if err := t.b(bucketUnique).Delete(uniqueKey(j)); err != nil {
			return err
		}
	}
	if err := t.b(bucketByState).Delete(byStateKey(j)); err != nil {
		return err
	}
	return t.count(j.Queue, j.State, -1)
}

// change applies mutate to j and keeps the indexes and the record in step.
func (t txn) change(j *worker.JobRecord, now time.Time, mutate func(j *worker.JobRecord)) error {
	if err := t.unindex(j); err != nil {
		return err
	}
	from := j.State
	mutate(j)
	j.UpdatedAt = now
	if j.State.Terminal() && j.FinishedAt.IsZero() {
		j.FinishedAt = now
	}
	if err := t.index(j); err != nil {
		return err
	}
	if j.State != from {
		if err := t.appendEvent(j, from, now); err != nil {
			return err
		}
	}
	return t.put(j)
}

// insert stores a new job.
func (t txn) insert(j *worker.JobRecord) error {
	if err := t.index(j); err != nil {
		return err
	}
	if err := t.appendEvent(j, "", j.CreatedAt); err != nil {
		return err
	}
	if len(j.Payload) > 0 {
		if err := t.b(bucketPayloads).Put([]byte(j.ID), j.Payload); err != nil {
			return err
		}
	}
	return t.put(j)
}

// remove deletes a job for good.
func (t txn) remove(j *worker.JobRecord) error {
	if err := t.unindex(j); err != nil {
		return err
	}
	if err := t.b(bucketPayloads).Delete([]byte(j.ID)); err != nil {
		return err
	}
	return t.b(bucketJobs).Delete([]byte(j.ID))
}

// put writes the job's record; its payload was stored once by insert.
func (t txn) put(j *worker.JobRecord) error {
	return t.b(bucketJobs).Put([]byte(j.ID), encodeJob(j))
}

func (t txn) get(id string) (*worker.JobRecord, error) {
	return getJob(t.tx, id)
}

// getRecord reads a job without its payload, for a change of state that
// neither needs nor returns it: the payload is stored apart and stays.
func (t txn) getRecord(id string) (*worker.JobRecord, error) {
	v := t.tx.Bucket(bucketJobs).Get([]byte(id))
	if v == nil {
		return nil, worker.ErrNotFound
	}
	j, err := decodeJob(v)
	if err != nil {
		return nil, fmt.Errorf("decode job record %s: %w", id, err)
	}
	return j, nil
}

func getJob(tx *bbolt.Tx, id string) (*worker.JobRecord, error) {
	v := tx.Bucket(bucketJobs).Get([]byte(id))
	if v == nil {
		return nil, worker.ErrNotFound
	}
	j, err := decodeJob(v)
	if err != nil {
		return nil, fmt.Errorf("decode job record %s: %w", id, err)
	}
	if p := tx.Bucket(bucketPayloads).Get([]byte(id)); p != nil {
		j.Payload = append([]byte(nil), p...)
	}
	return j, nil
}

func (t txn) paused(queue string) bool {
	return t.b(bucketMeta).Get([]byte(prefixPaused+queue)) != nil
}

// idOfKey returns the job ID at the end of an index key whose fixed-size
// part ends at offset.
func idOfKey(k []byte, offset int) string { return string(k[offset:]) }

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}

// collect returns up to limit keys under prefix, copied, so that the caller
// can change the bucket afterwards (a bbolt cursor must not outlive
// changes to its bucket).
func collect(b *bbolt.Bucket, prefix []byte, limit int, keep func(k []byte) bool) [][]byte {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix) && len(keys) < limit; k, _ = c.Next() {
		if keep != nil && !keep(k) {
			break
		}
		keys = append(keys, append([]byte(nil), k...))
	}
	return keys
}
