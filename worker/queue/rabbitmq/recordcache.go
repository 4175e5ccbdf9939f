package rabbitmq

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"kiln/worker"
)

// recordFile is the records file and what memory holds for it;
// Queue.mu guards it.
type recordFile struct {
	// store keeps the records that left memory (nil: all stay in memory);
	// dirty names the records changed since its last write.
	store *recordStore
	dirty map[string]struct{}
	// flushed is closed and replaced at every write of the file;
	// flushSoon asks for a write before the next tick.
	flushed   chan struct{}
	flushSoon chan struct{}
	// resident is how long a finished record stays in memory (residentFor;
	// less in tests).
	resident time.Duration
}

func newRecordFile() recordFile {
	return recordFile{
		dirty:     map[string]struct{}{},
		flushed:   make(chan struct{}),
		flushSoon: make(chan struct{}, 1),
		resident:  residentFor,
	}
}

// This file moves records between memory and the records file
// (recordstore.go): recordLocked finds a record wherever it is, flush
// writes what changed and lets finished records leave memory.

// openStore opens the records file and takes from it where the records
// stream was read up to, the counts, and the records of unfinished jobs.
func (q *Queue) openStore() error {
	s, st, err := openRecordStore(q.opts.RecordsFile, q.streamIdentity())
	if err != nil {
		return fmt.Errorf("rabbitmq backend: %w", err)
	}
	unfinished, err := s.unfinished()
	if err != nil {
		s.close()
		return fmt.Errorf("rabbitmq backend: %w", err)
	}
	q.store, q.flushDone = s, make(chan struct{})
	q.offset = st.Offset
	for name, c := range st.Counts {
		q.counts[name] = maps.Clone(c)
	}
	maps.Copy(q.paused, st.Paused)
	maps.Copy(q.cancelled, st.Cancelled)
	maps.Copy(q.notJobs, st.NotJobs)
	t := time.Now()
	for _, r := range unfinished {
		r.changed = t
		q.records[r.job.ID] = r
		q.indexWaitingLocked(r)
		q.indexUniqueLocked(r)
	}
	go q.flushLoop()
	return nil
}

// streamIdentity names the records stream a file was built from: its name
// and the vhost, so that a file is never read on against another stream.
func (q *Queue) streamIdentity() string {
	vhost := "/"
	if u, err := url.Parse(q.opts.URLs[0]); err == nil && strings.TrimPrefix(u.Path, "/") != "" {
		vhost = strings.TrimPrefix(u.Path, "/")
	}
	return q.names.records() + "@" + vhost
}

// indexWaitingLocked adds a record of a waiting job to the waiting index;
// mu is held.
func (q *Queue) indexWaitingLocked(r *record) {
	s := r.job.State
	if s != worker.StateQueued && s != worker.StateScheduled && s != worker.StateRetrying {
		return
	}
	k := waitKey{r.job.Queue, s}
	m := q.waiting[k]
	if m == nil {
		m = map[string]*record{}
		q.waiting[k] = m
	}
	m[r.job.ID] = r
}

// recordLocked returns the record of a job, from memory or from the
// records file (it then stays in memory a while); nil when there is none.
// mu is held.
func (q *Queue) recordLocked(id string) *record {
	if r := q.records[id]; r != nil || q.store == nil {
		return r
	}
	if _, gone := q.purged[id]; gone {
		return nil // purged; the file has it until the next write
	}
	r, err := q.store.get(id)
	if err != nil {
		q.log.Error("records file unreadable; the job is taken for unknown", "job", id, "err", err)
		return nil
	}
	if r != nil {
		r.changed = time.Now()
		q.records[id] = r
	}
	return r
}

// knownLocked is the record of a job, or gone when the records knew it
// and it was purged since: a job whose ID must not be taken in again
// either way; mu is held.
func (q *Queue) knownLocked(id string) (r *record, gone bool) {
	if r := q.recordLocked(id); r != nil {
		return r, false
	}
	_, gone = q.purgedGenLocked(id)
	return nil, gone
}

// purgedGenLocked returns the generation of a job whose record was
// purged; mu is held.
func (q *Queue) purgedGenLocked(id string) (int, bool) {
	if gen, ok := q.purged[id]; ok || q.store == nil {
		return gen, ok
	}
	return q.store.purgedGen(id)
}

func (q *Queue) flushLoop() {
	defer close(q.flushDone)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-q.closing:
			return
		case <-tick.C:
		case <-q.flushSoon:
		}
		// The heap a burst's records took is garbage once they are
		// written and have left memory; kilnd hands it back to the
		// kernel when it is quiet (daemon/idlememory.go).
		q.flush()
		q.mu.Lock()
		close(q.flushed)
		q.flushed = make(chan struct{})
		q.mu.Unlock()
	}
}

// flush writes the records changed since the last write, with the offset
// and counts they go with, and lets the finished records that have not
// changed for residentFor leave memory.
func (q *Queue) flush() {
	q.mu.Lock()
	offset := q.offset
	if q.past != nil {
		// The past is not read yet: a restart joins again.
		offset = 0
	}
	w := &recordWrite{purged: q.purged, state: storedState{
		Stream: q.streamIdentity(), Offset: offset,
		Counts: map[string]map[worker.State]int{}, Paused: maps.Clone(q.paused),
		Cancelled: maps.Clone(q.cancelled), NotJobs: maps.Clone(q.notJobs),
	}}
	for name, c := range q.counts {
		w.state.Counts[name] = maps.Clone(c)
	}
	for id := range q.dirty {
		if r := q.records[id]; r != nil {
			c := *r
			c.job = *r.snapshot()
			w.put = append(w.put, &c)
		}
	}
	q.dirty = map[string]struct{}{}
	q.purged = map[string]int{}
	// What may leave memory once written: finished, unchanged for
	// residentFor, not in this process's hands.
	cutoff := time.Now().Add(-q.resident)
	evict := map[string]*record{}
	for id, r := range q.records {
		if r.job.State.Terminal() && r.changed.Before(cutoff) && q.leased[id] == nil {
			evict[id] = r
		}
	}
	q.mu.Unlock()

	if err := q.store.write(w); err != nil {
		q.log.Error("records file not written; trying again", "err", err)
		q.mu.Lock()
		for _, r := range w.put {
			q.dirty[r.job.ID] = struct{}{}
		}
		for id, gen := range w.purged {
			if _, ok := q.purged[id]; !ok {
				q.purged[id] = gen
			}
		}
		q.mu.Unlock()
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range w.put {
		if r := q.records[c.job.ID]; r != nil {
			r.inFile = indexOf(c)
		}
	}
	for id, r := range evict {
		if _, changed := q.dirty[id]; changed || q.records[id] != r {
			continue
		}
		delete(q.records, id)
		if gen, ok := q.cancelled[id]; ok && gen <= r.gen && r.copy > 0 {
			// The finished record, which knows the job's copy, answers
			// for the cancel now: a delivery of that copy is stale.
			delete(q.cancelled, id)
		}
	}
}

// listFrom returns, oldest first, up to limit (0: all) jobs of queue (""
// all) in state ("" all) created after (fromAt, fromID) (zero: from the
// first), from memory and from the records file, and whether there are
// more.
func (q *Queue) listFrom(queue string, state worker.State, fromAt time.Time, fromID string, limit int) ([]*worker.JobRecord, bool, error) {
	after := func(j *worker.JobRecord) bool {
		return fromAt.IsZero() || j.CreatedAt.After(fromAt) || (j.CreatedAt.Equal(fromAt) && j.ID > fromID)
	}
	q.mu.Lock()
	var out []*worker.JobRecord
	// listed holds the IDs taken from memory: a record written and gone
	// from memory between this lock and the file's scan below is in the
	// file by then, and must not be listed twice.
	listed := map[string]bool{}
	for _, r := range q.records {
		j := &r.job
		if (queue == "" || j.Queue == queue) && (state == "" || j.State == state) && after(j) {
			out = append(out, r.snapshot())
			listed[j.ID] = true
		}
	}
	q.mu.Unlock()
	if q.store != nil && (state == "" || state.Terminal()) {
		// The file's finished jobs in order, those not in memory: at most
		// limit+1 of them can be on the page.
		var ids []string
		err := q.store.finished(fromAt, fromID, func(id, jq string, js worker.State, _ time.Time) bool {
			if (queue == "" || jq == queue) && (state == "" || js == state) {
				if !listed[id] && !q.inMemoryOrPurged(id) {
					ids = append(ids, id)
				}
			}
			return limit <= 0 || len(ids) <= limit
		})
		if err != nil {
			return nil, false, fmt.Errorf("list jobs: %w", err)
		}
		for _, id := range ids {
			r, err := q.store.get(id)
			if err != nil {
				return nil, false, fmt.Errorf("list jobs: %w", err)
			}
			if r != nil {
				out = append(out, &r.job)
			}
		}
	}
	slices.SortFunc(out, func(a, b *worker.JobRecord) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// inMemoryOrPurged reports whether the file's entry for id is not the one
// to answer with: the record in memory is newer, or the job was purged
// since the file's last write.
func (q *Queue) inMemoryOrPurged(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, resident := q.records[id]
	_, gone := q.purged[id]
	return resident || gone
}

// maxDirty bounds the records changed and not written to the file yet. A
// reader that applies events faster than the file takes them (a long
// history read at start, or the past behind a join) waits for a write
// past it: a record leaves memory only once written, so without the wait
// the records of the whole history pile up in memory.
const maxDirty = 10_000

// waitForFlush returns once the records changed and not written are
// under maxDirty, asking for a write meanwhile.
func (q *Queue) waitForFlush() {
	for {
		q.mu.Lock()
		if !q.behindFileLocked() {
			q.mu.Unlock()
			return
		}
		written := q.flushed
		q.mu.Unlock()
		select {
		case q.flushSoon <- struct{}{}:
		default:
		}
		select {
		case <-written:
		case <-q.closing:
			return
		}
	}
}

// behindFileLocked reports whether the records changed and not written
// have reached maxDirty; mu is held. Readers ask it under the lock they
// hold anyway, and wait only then.
func (q *Queue) behindFileLocked() bool { return q.store != nil && len(q.dirty) >= maxDirty }
