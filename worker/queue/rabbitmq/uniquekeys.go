package rabbitmq

import "kiln/worker"

// Unique keys: a job with a unique_key is not added while an unfinished
// job of its queue holds the same key. No broker operation checks and
// publishes at once, so one host at a time decides: the holder of the
// admission lead (admission.go), which every other host asks. What it
// decides by is this index of the records, which holds the unfinished
// jobs (those stay in memory, see residentFor).

// uniqueRef names a unique key within its queue.
type uniqueRef struct{ queue, key string }

func uniqueRefOf(j *worker.JobRecord) uniqueRef { return uniqueRef{j.Queue, j.UniqueKey} }

// unindexUniqueLocked takes a record out of the unique-key index before
// it changes; mu is held.
func (q *Queue) unindexUniqueLocked(r *record) {
	if r.job.UniqueKey == "" {
		return
	}
	if ref := uniqueRefOf(&r.job); q.unique[ref] == r.job.ID {
		delete(q.unique, ref)
	}
}

// indexUniqueLocked puts a record of an unfinished job with a unique key
// in the index; mu is held.
func (q *Queue) indexUniqueLocked(r *record) {
	if r.job.UniqueKey == "" || r.job.State.Terminal() {
		return
	}
	q.unique[uniqueRefOf(&r.job)] = r.job.ID
}

// uniqueHolderLocked is the unfinished job that holds a unique key in its
// queue, nil when none does; mu is held.
func (q *Queue) uniqueHolderLocked(ref uniqueRef) *worker.JobRecord {
	id, ok := q.unique[ref]
	if !ok {
		return nil
	}
	r := q.records[id]
	if r == nil || r.job.State.Terminal() || r.job.UniqueKey != ref.key {
		delete(q.unique, ref)
		return nil
	}
	return r.snapshot()
}
