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
const formatVersion = 4

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

	writes    chan *writeRequest
	quit      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	ready   chan struct{}
	commits atomic.Int64 // transactions committed

	maxQueued worker.MaxQueued

	mu      sync.Mutex
	changed chan struct{}
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

		maxQueued: maxQueued,
	}
	if s.maxQueued == nil {
		s.maxQueued = func(string) int { return 0 }
	}
	if err := db.Update(s.prepare); err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	s.wg.Add(1)
	go s.commitLoop()
	return s, nil
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
		} else if got < formatVersion {
			return fmt.Errorf("written in format %d, which this kiln cannot read (it reads format %d)", got, formatVersion)
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
	return recoverLeases(txn{tx}, time.Now(), func([]byte) bool { return true })
}

// recoverLeases ends the attempts of running jobs whose lease key passes
// keep, as interrupted.
func recoverLeases(t txn, now time.Time, keep func(leaseKey []byte) bool) error {
	keys := collect(t.b(bucketLeases), nil, 1<<30, keep)
	for _, k := range keys {
		j, err := t.get(idOfKey(k, 8))
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
		close(s.quit)
		s.wg.Wait()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Path is the store file.
func (s *Store) Path() string { return s.path }

// Ready implements worker.Queue.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// Changed implements worker.Queue.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Store) signalReady() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *Store) signalChanged() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Submit implements worker.Queue.
func (s *Store) Submit(ctx context.Context, jobs ...*worker.JobRecord) ([]bool, error) {
	now := time.Now()
	for _, j := range jobs {
		if j.Queue == "" || strings.ContainsRune(j.Queue, 0) {
			return nil, fmt.Errorf("submit: invalid queue name %q", j.Queue)
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
	// The batch may be run again after a rollback: start from the same
	// values each time.
	orig := make([]worker.JobRecord, len(jobs))
	for i, j := range jobs {
		orig[i] = *j
	}
	limits := make(map[string]int)
	for _, j := range jobs {
		if _, ok := limits[j.Queue]; !ok {
			limits[j.Queue] = s.maxQueued(j.Queue)
		}
	}
	duplicate := make([]bool, len(jobs))
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		t := txn{tx}
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
			if limit := limits[j.Queue]; limit > 0 {
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
		tx.OnCommit(s.signalReady)
		if added {
			// A new job is a change of state like any other: a waiter on
			// Changed (a list or a count being watched) must see it.
			tx.OnCommit(s.signalChanged)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, worker.ErrQueueFull) {
			return nil, err
		}
		return nil, fmt.Errorf("submit to %s: %w", s.path, err)
	}
	return duplicate, nil
}

// Lease implements worker.Queue.
func (s *Store) Lease(ctx context.Context, queue string, max int, leaseFor time.Duration) ([]*worker.JobRecord, time.Time, error) {
	var (
		leased []*worker.JobRecord
		next   time.Time
	)
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		t := txn{tx}
		leased, next = nil, time.Time{}
		if t.paused(queue) {
			return nil
		}
		now := time.Now()
		prefix := queuePrefix(queue)
		// Scheduled and retrying jobs that have come due join the ready ones.
		due := collect(t.b(bucketWaiting), prefix, promoteBatch, func(k []byte) bool {
			return int64(binary.BigEndian.Uint64(k[len(prefix):])) <= now.UnixNano()
		})
		for _, k := range due {
			j, err := t.get(idOfKey(k, len(prefix)+8))
			if err != nil {
				return err
			}
			if err := t.change(j, now, func(j *worker.JobRecord) { j.State = worker.StateQueued }); err != nil {
				return err
			}
		}
		for _, k := range collect(t.b(bucketReady), prefix, max, nil) {
			j, err := t.get(idOfKey(k, len(prefix)+2))
			if err != nil {
				return err
			}
			err = t.change(j, now, func(j *worker.JobRecord) {
				j.State = worker.StateRunning
				j.Attempts++
				j.LeaseUntil = now.Add(leaseFor)
			})
			if err != nil {
				return err
			}
			leased = append(leased, j)
		}
		if len(due) == promoteBatch {
			next = now // more came due than one pass moves
		} else if k, _ := t.b(bucketWaiting).Cursor().Seek(prefix); k != nil && hasPrefix(k, prefix) {
			next = time.Unix(0, int64(binary.BigEndian.Uint64(k[len(prefix):])))
		}
		if len(leased) > 0 || len(due) > 0 {
			tx.OnCommit(s.signalChanged)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("lease from queue %q in %s: %w", queue, s.path, err)
	}
	return leased, next, nil
}

// Complete implements worker.Queue.
func (s *Store) Complete(ctx context.Context, id string, result json.RawMessage) error {
	err := s.change(ctx, id, func(t txn, j *worker.JobRecord, now time.Time) error {
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
	})
	if err != nil {
		return fmt.Errorf("complete job %s: %w", id, err)
	}
	return nil
}

// Fail implements worker.Queue.
func (s *Store) Fail(ctx context.Context, id string, reason string, retryAt time.Time) error {
	err := s.change(ctx, id, func(t txn, j *worker.JobRecord, now time.Time) error {
		if j.State != worker.StateRunning {
			return fmt.Errorf("%w: job is %s, not running", worker.ErrWrongState, j.State)
		}
		if !retryAt.IsZero() {
			t.tx.OnCommit(s.signalReady)
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
	err := s.change(ctx, id, func(t txn, j *worker.JobRecord, now time.Time) error {
		if j.State != worker.StateRunning {
			return fmt.Errorf("%w: job is %s, not running", worker.ErrWrongState, j.State)
		}
		t.tx.OnCommit(s.signalReady)
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
// changes, and tells waiters once it is durable.
func (s *Store) change(ctx context.Context, id string, fn func(t txn, j *worker.JobRecord, now time.Time) error) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		t := txn{tx}
		j, err := t.get(id)
		if err != nil {
			return err
		}
		if err := fn(t, j, time.Now()); err != nil {
			return err
		}
		tx.OnCommit(s.signalChanged)
		return nil
	})
}
