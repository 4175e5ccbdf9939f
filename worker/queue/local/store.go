// Package local is the default queue backend: a single bbolt file under the
// daemon's state directory. Every change is committed with fdatasync before
// the caller hears back; concurrent changes share one commit (group commit).
package local

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

// formatVersion is stored in the file; a file written by a newer kiln is
// refused rather than misread.
const formatVersion = 5

// upgradableFrom is the oldest format this kiln takes over, by writing its
// own version: format 5 stores a commit's events as one group, and reads
// the single events format 4 stored as they are.
const upgradableFrom = 4

// promoteBatch bounds how many due scheduled jobs one lease moves to the
// ready index, so that one transaction stays small under a huge backlog.
const promoteBatch = 4096

// ErrClosed is returned once the store has been closed.
var ErrClosed = errors.New("queue store closed")

// Store is the local queue.
type Store struct {
	path string
	db   *bbolt.DB
	ids  *idSource

	writes chan *writeRequest
	// admitting guards closed: a change is queued only under its read
	// lock and while closed is false, so that every change queued is in
	// writes before quit closes, and the commit loop's last drain answers
	// it; without it a change could be queued after that drain and wait
	// for an answer for ever.
	admitting sync.RWMutex
	closed    bool
	quit      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	ready   chan struct{}
	commits atomic.Int64 // transactions committed
	// announce is what the commit being built must tell waiters once it is
	// durable: once per commit, however many of its changes call for it.
	// Only the commit goroutine touches it.
	announce struct{ ready, changed bool }
	// deltas are the count changes of the commit being built; only the
	// commit goroutine touches them.
	deltas countDeltas

	// commitObserver hears each commit's latency (from the batch's start
	// to durable) and how many changes shared it.
	commitObserver atomic.Pointer[func(latency time.Duration, changes int)]

	maxQueued worker.MaxQueued

	eventRetention atomic.Pointer[func() worker.EventRetention]
	noEvents       atomic.Bool
	// recent are the newest events, for followers of the log; written
	// gathers those of the commit being built (only the commit goroutine
	// touches it).
	recent  *eventRing
	written []worker.Event
	// events is the room to store a commit's events as one group (only
	// the commit goroutine touches it).
	events eventGroup

	mu             sync.Mutex
	changed        chan struct{}
	changedWatched bool // someone has the current changed channel
	eventsChanged  chan struct{}
}

var _ worker.Queue = (*Store)(nil)

// Open opens or creates the store at path. A crash leaves jobs leased; Open
// returns them to the queue (their attempt stays counted) or, when their
// attempts are used up, marks them dead, so a job that kills the daemon
// cannot make it crash-loop. maxQueued is asked at each submit (nil: no
// queue is limited).
func Open(path string, maxQueued worker.MaxQueued) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	s := &Store{
		path:    path,
		db:      db,
		ids:     newIDSource(),
		writes:  make(chan *writeRequest, 4096),
		quit:    make(chan struct{}),
		ready:   make(chan struct{}, 1),
		changed: make(chan struct{}),
		deltas:  countDeltas{},

		eventsChanged: make(chan struct{}),

		maxQueued: maxQueued,
	}
	if s.maxQueued == nil {
		s.maxQueued = func(string) int { return 0 }
	}
	if err := db.Update(s.prepare); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	s.recent = newEventRing(eventsInMemory)
	if err := db.View(func(tx *bbolt.Tx) error { s.recent.reset(tx); return nil }); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	s.wg.Add(1)
	go s.commitLoop()
	return s, nil
}

// txn is a write transaction run by the commit goroutine, whose count
// changes are written once at the commit.
func (s *Store) txn(tx *bbolt.Tx) txn {
	return txn{tx: tx, counts: &s.deltas, noEvents: s.noEvents.Load(), written: &s.written}
}

func (s *Store) prepare(tx *bbolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if v := meta.Get(keyVersion); v != nil {
		if len(v) != 8 {
			return fmt.Errorf("format version record is corrupt")
		}
		if got := binary.BigEndian.Uint64(v); got > formatVersion {
			return fmt.Errorf("written by a newer kiln (format %d, this one reads up to %d); refusing to touch it", got, formatVersion)
		} else if got < upgradableFrom {
			return fmt.Errorf("written in format %d, which this kiln cannot read (it reads formats %d to %d)", got, upgradableFrom, formatVersion)
		} else if got < formatVersion {
			if err := meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, formatVersion)); err != nil {
				return err
			}
		}
	} else {
		if tx.Bucket(bucketJobs) != nil {
			return fmt.Errorf("has jobs but no format version: not a kiln queue store, or damaged")
		}
		if err := meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, formatVersion)); err != nil {
			return err
		}
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	// No worker can hold a lease while the store is being opened.
	return recoverLeases(txn{tx: tx}, time.Now(), func([]byte) bool { return true })
}

// recoverLeases ends the attempts of running jobs whose lease key passes
// keep, as interrupted.
func recoverLeases(t txn, now time.Time, keep func(leaseKey []byte) bool) error {
	keys := collect(t.b(bucketLeases), nil, 1<<30, keep)
	for _, k := range keys {
		j, err := t.getRecord(idOfKey(k, 8))
		if err != nil {
			return err
		}
		reason := fmt.Sprintf("attempt %d was interrupted: the worker stopped, crashed or overran its lease while it ran", j.Attempts)
		retryAt := now
		if j.Attempts >= j.MaxAttempts {
			retryAt = time.Time{}
		}
		if err := failJob(t, j, reason, retryAt, now); err != nil {
			return err
		}
	}
	return nil
}

// Close waits for pending commits and closes the file. Closing twice is
// harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.admitting.Lock()
		s.closed = true
		s.admitting.Unlock()
		close(s.quit)
		s.wg.Wait()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// ObserveCommits makes fn hear of every commit from now on, for metrics.
func (s *Store) ObserveCommits(fn func(latency time.Duration, changes int)) {
	s.commitObserver.Store(&fn)
}

// Path is the store file.
func (s *Store) Path() string { return s.path }

// Ready implements worker.Queue.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// Changed implements worker.Queue.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changedWatched = true
	return s.changed
}

func (s *Store) signalReady() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// signalChanged wakes whoever waits on Changed. At thousands of changes a
// second mostly nobody does, and then the channel is left as it is.
func (s *Store) signalChanged() {
	s.mu.Lock()
	if s.changedWatched {
		close(s.changed)
		s.changed = make(chan struct{})
		s.changedWatched = false
	}
	s.mu.Unlock()
}

// Submit implements worker.Queue.
func (s *Store) Submit(ctx context.Context, jobs ...*worker.JobRecord) ([]bool, error) {
	if err := s.prepareSubmit(jobs); err != nil {
		return nil, err
	}
	duplicate := make([]bool, len(jobs))
	err := s.write(ctx, s.insertJobs(jobs, duplicate))
	if err != nil {
		return nil, submitError(s.path, err)
	}
	return duplicate, nil
}

// SubmitEach stores each job as a durable change of its own: a job refused
// (its queue full, say) leaves the others stored, while all of them share
// commits. errs[i] is nil once jobs[i] is durable; duplicate[i] says its
// unique_key matched an unfinished job, which *jobs[i] then is.
func (s *Store) SubmitEach(ctx context.Context, jobs []*worker.JobRecord) (duplicate []bool, errs []error) {
	duplicate = make([]bool, len(jobs))
	errs = make([]error, len(jobs))
	if err := s.prepareSubmit(jobs); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return duplicate, errs
	}
	fns := make([]func(tx *bbolt.Tx) error, len(jobs))
	for i := range jobs {
		fns[i] = s.insertJobs(jobs[i:i+1], duplicate[i:i+1])
	}
	for i, err := range s.writeEach(ctx, fns) {
		if err != nil {
			errs[i] = submitError(s.path, err)
		}
	}
	return duplicate, errs
}

func submitError(path string, err error) error {
	if errors.Is(err, worker.ErrQueueFull) {
		return err
	}
	return fmt.Errorf("submit to %s: %w", path, err)
}

// prepareSubmit fills in what a new job gets before it is stored.
func (s *Store) prepareSubmit(jobs []*worker.JobRecord) error {
	now := time.Now()
	for _, j := range jobs {
		if j.Queue == "" || strings.ContainsRune(j.Queue, 0) {
			return fmt.Errorf("submit: invalid queue name %q", j.Queue)
		}
		j.ID = s.ids.next(now)
		j.CreatedAt, j.UpdatedAt = now, now
		if j.RunAt.IsZero() {
			j.RunAt = now
		}
		j.State = worker.StateQueued
		if j.RunAt.After(now) {
			j.State = worker.StateScheduled
		}
		if j.MaxAttempts < 1 {
			j.MaxAttempts = 1
		}
	}
	return nil
}

// insertJobs is the change that stores jobs, all or none, recording in
// duplicate which ones matched an unfinished job's unique_key.
func (s *Store) insertJobs(jobs []*worker.JobRecord, duplicate []bool) func(tx *bbolt.Tx) error {
	// The change may be run again after a rollback: start from the same
	// values each time.
	orig := make([]worker.JobRecord, len(jobs))
	for i, j := range jobs {
		orig[i] = *j
	}
	return func(tx *bbolt.Tx) error {
		t := s.txn(tx)
		added := false
		for i, j := range jobs {
			*j = orig[i]
			duplicate[i] = false
			if j.UniqueKey != "" {
				if id := t.b(bucketUnique).Get(uniqueKey(j)); id != nil {
					existing, err := t.get(string(id))
					if err != nil {
						return err
					}
					*j = *existing
					duplicate[i] = true
					continue
				}
			}
			if limit := s.maxQueued(j.Queue); limit > 0 {
				// The counts already include this batch's earlier jobs.
				waiting := t.countOf(j.Queue, worker.StateQueued) + t.countOf(j.Queue, worker.StateScheduled) + t.countOf(j.Queue, worker.StateRetrying)
				if waiting+1 > limit {
					return fmt.Errorf("%w: queue %q holds %d waiting jobs, its max_queued is %d", worker.ErrQueueFull, j.Queue, waiting, limit)
				}
			}
			if err := t.insert(j); err != nil {
				return err
			}
			added = true
		}
		s.announce.ready = true
		if added {
			// A new job is a change of state like any other: a waiter on
			// Changed (a list or a count being watched) must see it.
			s.announce.changed = true
		}
		return nil
	}
}

// Lease implements worker.Queue.
func (s *Store) Lease(ctx context.Context, queue string, max int, leaseFor time.Duration) ([]*worker.JobRecord, time.Time, error) {
	var (
		leased []*worker.JobRecord
		next   time.Time
	)
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		var err error
		leased, next, err = s.leaseIn(s.txn(tx), queue, max, leaseFor)
		return err
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("lease from queue %q in %s: %w", queue, s.path, err)
	}
	return leased, next, nil
}

// leaseIn is Lease's change, for any write transaction.
func (s *Store) leaseIn(t txn, queue string, max int, leaseFor time.Duration) (leased []*worker.JobRecord, next time.Time, err error) {
	if max <= 0 || t.paused(queue) {
		return nil, time.Time{}, nil
	}
	now := time.Now()
	prefix := queuePrefix(queue)
	// Scheduled and retrying jobs that have come due join the ready ones.
	due := collect(t.b(bucketWaiting), prefix, promoteBatch, func(k []byte) bool {
		return int64(binary.BigEndian.Uint64(k[len(prefix):])) <= now.UnixNano()
	})
	for _, k := range due {
		j, err := t.getRecord(idOfKey(k, len(prefix)+8))
		if err != nil {
			return nil, time.Time{}, err
		}
		if err := t.change(j, now, func(j *worker.JobRecord) { j.State = worker.StateQueued }); err != nil {
			return nil, time.Time{}, err
		}
	}
	for _, k := range collect(t.b(bucketReady), prefix, max, nil) {
		j, err := t.get(idOfKey(k, len(prefix)+2))
		if err != nil {
			return nil, time.Time{}, err
		}
		err = t.change(j, now, func(j *worker.JobRecord) {
			j.State = worker.StateRunning
			j.Attempts++
			j.LeaseUntil = now.Add(leaseFor)
		})
		if err != nil {
			return nil, time.Time{}, err
		}
		leased = append(leased, j)
	}
	if len(due) == promoteBatch {
		next = now // more came due than one pass moves
	} else if k, _ := t.b(bucketWaiting).Cursor().Seek(prefix); k != nil && hasPrefix(k, prefix) {
		next = time.Unix(0, int64(binary.BigEndian.Uint64(k[len(prefix):])))
	}
	if len(leased) > 0 || len(due) > 0 {
		s.announce.changed = true
	}
	return leased, next, nil
}

// Complete implements worker.Queue.
func (s *Store) Complete(ctx context.Context, id string, result json.RawMessage) error {
	err := s.change(ctx, id, false, func(t txn, j *worker.JobRecord, now time.Time) error {
		return completeJob(t, j, result, now)
	})
	if err != nil {
		return fmt.Errorf("complete job %s: %w", id, err)
	}
	return nil
}

// completeJob ends a running job's attempt as a success (cancelled, if a
// cancel was requested while it ran).
func completeJob(t txn, j *worker.JobRecord, result []byte, now time.Time) error {
	if j.State != worker.StateRunning {
		return fmt.Errorf("%w: job is %s, not running", worker.ErrWrongState, j.State)
	}
	return t.change(j, now, func(j *worker.JobRecord) {
		j.State = worker.StateSucceeded
		if j.CancelRequested {
			j.State = worker.StateCancelled
		}
		j.Result = result
		j.LeaseUntil = time.Time{}
	})
}

// Fail implements worker.Queue.
func (s *Store) Fail(ctx context.Context, id string, reason string, retryAt time.Time) error {
	err := s.change(ctx, id, false, func(t txn, j *worker.JobRecord, now time.Time) error {
		if j.State != worker.StateRunning {
			return fmt.Errorf("%w: job is %s, not running", worker.ErrWrongState, j.State)
		}
		if !retryAt.IsZero() {
			s.announce.ready = true
		}
		return failJob(t, j, reason, retryAt, now)
	})
	if err != nil {
		return fmt.Errorf("fail job %s: %w", id, err)
	}
	return nil
}

// failJob ends a running job's attempt: retrying at retryAt, dead when
// retryAt is zero, cancelled when a cancel was requested.
func failJob(t txn, j *worker.JobRecord, reason string, retryAt, now time.Time) error {
	return t.change(j, now, func(j *worker.JobRecord) {
		j.RecordError(now, reason)
		j.LeaseUntil = time.Time{}
		switch {
		case j.CancelRequested:
			j.State = worker.StateCancelled
		case retryAt.IsZero():
			j.State = worker.StateDead
		default:
			j.RunAt = retryAt
			j.State = worker.StateRetrying
		}
	})
}

// Release implements worker.Queue.
func (s *Store) Release(ctx context.Context, id string) error {
	err := s.change(ctx, id, false, func(t txn, j *worker.JobRecord, now time.Time) error {
		if j.State != worker.StateRunning {
			return fmt.Errorf("%w: job is %s, not running", worker.ErrWrongState, j.State)
		}
		s.announce.ready = true
		return t.change(j, now, func(j *worker.JobRecord) {
			if j.Attempts > 0 {
				j.Attempts--
			}
			j.RunAt = now
			j.State = worker.StateQueued
			j.LeaseUntil = time.Time{}
		})
	})
	if err != nil {
		return fmt.Errorf("release job %s: %w", id, err)
	}
	return nil
}

// change runs fn on one job in a write transaction shared with other
// changes, and tells waiters once it is durable. The job is read with its
// payload only when withPayload says fn hands the job out.
func (s *Store) change(ctx context.Context, id string, withPayload bool, fn func(t txn, j *worker.JobRecord, now time.Time) error) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		t := s.txn(tx)
		get := t.getRecord
		if withPayload {
			get = t.get
		}
		j, err := get(id)
		if err != nil {
			return err
		}
		if err := fn(t, j, time.Now()); err != nil {
			return err
		}
		s.announce.changed = true
		return nil
	})
}
