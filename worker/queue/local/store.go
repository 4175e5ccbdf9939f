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
const formatVersion = 1

var (
	bucketMeta    = []byte("meta")
	bucketJobs    = []byte("jobs")
	bucketPending = []byte("pending") // queue \x00 run_at(8) id -> nil
	bucketRunning = []byte("running") // id -> nil
	keyVersion    = []byte("version")
)

// ErrClosed is returned once the store has been closed.
var ErrClosed = errors.New("queue store closed")

// Store is the local queue.
type Store struct {
	path string
	db   *bbolt.DB
	ids  *idSource

	writes chan *writeRequest
	quit   chan struct{}
	wg     sync.WaitGroup

	ready   chan struct{}
	commits atomic.Int64 // transactions committed, for tests and stats

	mu      sync.Mutex
	changed chan struct{}
}

// Open opens or creates the store at path. A crash leaves jobs leased; Open
// returns them to the queue (their attempt stays counted) or, when their
// attempts are used up, marks them dead, so a job that kills the daemon
// cannot make it crash-loop.
func Open(path string) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	s := &Store{
		path:    path,
		db:      db,
		ids:     newIDSource(),
		writes:  make(chan *writeRequest, 1024),
		quit:    make(chan struct{}),
		ready:   make(chan struct{}, 1),
		changed: make(chan struct{}),
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
		}
	} else {
		if err := meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, formatVersion)); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketJobs, bucketPending, bucketRunning} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return recoverLeases(tx, time.Now())
}

// recoverLeases runs at open, when no worker can hold a lease.
func recoverLeases(tx *bbolt.Tx, now time.Time) error {
	running := tx.Bucket(bucketRunning)
	var ids [][]byte
	if err := running.ForEach(func(k, _ []byte) error {
		ids = append(ids, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		j, err := getJob(tx, string(id))
		if err != nil {
			return err
		}
		reason := fmt.Sprintf("attempt %d was interrupted: the daemon stopped or crashed while it ran", j.Attempts)
		if j.Attempts >= j.MaxAttempts {
			err = failJob(tx, j, reason, time.Time{}, now)
		} else {
			err = failJob(tx, j, reason, now, now)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Close waits for pending commits and closes the file.
func (s *Store) Close() error {
	close(s.quit)
	s.wg.Wait()
	return s.db.Close()
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
func (s *Store) Submit(ctx context.Context, jobs ...*worker.Job) error {
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
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		for _, j := range jobs {
			if err := putPending(tx, j); err != nil {
				return err
			}
		}
		tx.OnCommit(s.signalReady)
		return nil
	})
	if err != nil {
		return fmt.Errorf("submit to %s: %w", s.path, err)
	}
	return nil
}

// Lease implements worker.Queue.
func (s *Store) Lease(ctx context.Context, queue string, max int, leaseFor time.Duration) ([]*worker.Job, time.Time, error) {
	var (
		leased []*worker.Job
		next   time.Time
	)
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		leased, next = nil, time.Time{}
		now := time.Now()
		prefix := append([]byte(queue), 0)
		c := tx.Bucket(bucketPending).Cursor()
		var keys [][]byte
		for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix) && len(keys) < max; k, _ = c.Next() {
			runAt, id, err := splitPendingKey(k, len(prefix))
			if err != nil {
				return err
			}
			if runAt.After(now) {
				next = runAt
				break
			}
			keys = append(keys, append([]byte(nil), k...))
			j, err := getJob(tx, id)
			if err != nil {
				return err
			}
			leased = append(leased, j)
		}
		for i, j := range leased {
			if err := tx.Bucket(bucketPending).Delete(keys[i]); err != nil {
				return err
			}
			j.State = worker.StateRunning
			j.Attempts++
			j.LeaseUntil = now.Add(leaseFor)
			j.UpdatedAt = now
			if err := putJob(tx, j); err != nil {
				return err
			}
			if err := tx.Bucket(bucketRunning).Put([]byte(j.ID), nil); err != nil {
				return err
			}
		}
		if len(leased) > 0 {
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
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		j, err := leasedJob(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketRunning).Delete([]byte(id)); err != nil {
			return err
		}
		j.State = worker.StateSucceeded
		j.Result = result
		j.LastError = ""
		j.LeaseUntil = time.Time{}
		j.UpdatedAt = time.Now()
		tx.OnCommit(s.signalChanged)
		return putJob(tx, j)
	})
	if err != nil {
		return fmt.Errorf("complete job %s: %w", id, err)
	}
	return nil
}

// Fail implements worker.Queue.
func (s *Store) Fail(ctx context.Context, id string, reason string, retryAt time.Time) error {
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		j, err := leasedJob(tx, id)
		if err != nil {
			return err
		}
		tx.OnCommit(s.signalChanged)
		if !retryAt.IsZero() {
			tx.OnCommit(s.signalReady)
		}
		return failJob(tx, j, reason, retryAt, time.Now())
	})
	if err != nil {
		return fmt.Errorf("fail job %s: %w", id, err)
	}
	return nil
}

// Release implements worker.Queue.
func (s *Store) Release(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		j, err := leasedJob(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketRunning).Delete([]byte(id)); err != nil {
			return err
		}
		if j.Attempts > 0 {
			j.Attempts--
		}
		j.RunAt = time.Now()
		j.State = worker.StateQueued
		j.LeaseUntil = time.Time{}
		j.UpdatedAt = j.RunAt
		tx.OnCommit(s.signalChanged)
		return putPending(tx, j)
	})
	if err != nil {
		return fmt.Errorf("release job %s: %w", id, err)
	}
	return nil
}

// Get implements worker.Queue.
func (s *Store) Get(ctx context.Context, id string) (*worker.Job, error) {
	var j *worker.Job
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		j, err = getJob(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", id, err)
	}
	return j, nil
}

// Counts implements worker.Queue.
func (s *Store) Counts(ctx context.Context) (map[string]map[worker.State]int, error) {
	counts := map[string]map[worker.State]int{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(_, v []byte) error {
			var j worker.Job
			if err := json.Unmarshal(v, &j); err != nil {
				return err
			}
			if counts[j.Queue] == nil {
				counts[j.Queue] = map[worker.State]int{}
			}
			counts[j.Queue][j.State]++
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("count jobs in %s: %w", s.path, err)
	}
	return counts, nil
}

// failJob moves a running job to retrying (at retryAt) or dead (zero retryAt).
func failJob(tx *bbolt.Tx, j *worker.Job, reason string, retryAt, now time.Time) error {
	if err := tx.Bucket(bucketRunning).Delete([]byte(j.ID)); err != nil {
		return err
	}
	j.LastError = reason
	j.LeaseUntil = time.Time{}
	j.UpdatedAt = now
	if retryAt.IsZero() {
		j.State = worker.StateDead
		return putJob(tx, j)
	}
	j.RunAt = retryAt
	j.State = worker.StateRetrying
	return putPending(tx, j)
}

func putPending(tx *bbolt.Tx, j *worker.Job) error {
	if err := putJob(tx, j); err != nil {
		return err
	}
	return tx.Bucket(bucketPending).Put(pendingKey(j), nil)
}

func putJob(tx *bbolt.Tx, j *worker.Job) error {
	buf, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketJobs).Put([]byte(j.ID), buf)
}

func getJob(tx *bbolt.Tx, id string) (*worker.Job, error) {
	v := tx.Bucket(bucketJobs).Get([]byte(id))
	if v == nil {
		return nil, worker.ErrNotFound
	}
	j := new(worker.Job)
	if err := json.Unmarshal(v, j); err != nil {
		return nil, fmt.Errorf("decode job record %s: %w", id, err)
	}
	return j, nil
}

// leasedJob returns a job that must currently be running.
func leasedJob(tx *bbolt.Tx, id string) (*worker.Job, error) {
	j, err := getJob(tx, id)
	if err != nil {
		return nil, err
	}
	if j.State != worker.StateRunning {
		return nil, fmt.Errorf("job is %s, not running", j.State)
	}
	return j, nil
}

func pendingKey(j *worker.Job) []byte {
	k := make([]byte, 0, len(j.Queue)+1+8+len(j.ID))
	k = append(k, j.Queue...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(j.RunAt.UnixNano()))
	return append(k, j.ID...)
}

func splitPendingKey(k []byte, prefixLen int) (time.Time, string, error) {
	if len(k) < prefixLen+8 {
		return time.Time{}, "", fmt.Errorf("corrupt pending index key %q", k)
	}
	ns := binary.BigEndian.Uint64(k[prefixLen : prefixLen+8])
	return time.Unix(0, int64(ns)), string(k[prefixLen+8:]), nil
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}
