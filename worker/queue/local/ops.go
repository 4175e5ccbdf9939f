package local

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

// purgeBatch bounds one purge transaction, so a purge of millions of jobs
// never holds the writer for long.
const purgeBatch = 5000

// Cancel implements worker.Queue.
func (s *Store) Cancel(ctx context.Context, id string) (*worker.JobRecord, error) {
	var out *worker.JobRecord
	err := s.change(ctx, id, func(t txn, j *worker.JobRecord, now time.Time) error {
		switch {
		case j.State.Terminal():
			return fmt.Errorf("%w: job is already %s", worker.ErrWrongState, j.State)
		case j.State == worker.StateRunning:
			// Only the worker running it can stop it; it ends cancelled
			// when its handler returns.
			j.CancelRequested = true
			j.UpdatedAt = now
			out = j
			return t.put(j)
		}
		out = j
		return t.change(j, now, func(j *worker.JobRecord) { j.State = worker.StateCancelled })
	})
	if err != nil {
		return nil, fmt.Errorf("cancel job %s: %w", id, err)
	}
	return out, nil
}

// Retry implements worker.Queue.
func (s *Store) Retry(ctx context.Context, id string) (*worker.JobRecord, error) {
	var out *worker.JobRecord
	err := s.change(ctx, id, func(t txn, j *worker.JobRecord, now time.Time) error {
		if err := retryJob(t, j, now); err != nil {
			return err
		}
		out = j
		t.tx.OnCommit(s.signalReady)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retry job %s: %w", id, err)
	}
	return out, nil
}

func retryJob(t txn, j *worker.JobRecord, now time.Time) error {
	if j.State != worker.StateDead && j.State != worker.StateCancelled {
		return fmt.Errorf("%w: job is %s; only dead or cancelled jobs are retried", worker.ErrWrongState, j.State)
	}
	if j.UniqueKey != "" {
		if id := t.b(bucketUnique).Get(uniqueKey(j)); id != nil {
			return fmt.Errorf("%w: job %s holds unique_key %q now", worker.ErrWrongState, id, j.UniqueKey)
		}
	}
	return t.change(j, now, func(j *worker.JobRecord) {
		j.State = worker.StateQueued
		j.Attempts = 0
		j.RunAt = now
		j.FinishedAt = time.Time{}
		j.CancelRequested = false
	})
}

// RetryAll implements worker.Queue.
func (s *Store) RetryAll(ctx context.Context, queue string) (int, error) {
	total := 0
	for {
		n := 0
		err := s.write(ctx, func(tx *bbolt.Tx) error {
			t := txn{tx}
			n = 0
			prefix := stateQueuePrefix(worker.StateDead, queue)
			for _, k := range collect(t.b(bucketByState), prefix, purgeBatch, nil) {
				j, err := t.get(idOfByStateKey(k))
				if err != nil {
					return err
				}
				if err := retryJob(t, j, time.Now()); err != nil {
					continue // e.g. its unique key is taken: it stays dead
				}
				n++
			}
			if n > 0 {
				tx.OnCommit(s.signalReady)
				tx.OnCommit(s.signalChanged)
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("retry dead jobs: %w", err)
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
	}
}

// Purge implements worker.Queue.
func (s *Store) Purge(ctx context.Context, queue string, state worker.State, olderThan time.Duration) (int, error) {
	if !state.Terminal() {
		return 0, fmt.Errorf("purge: %w: only finished jobs are purged, not %s", worker.ErrWrongState, state)
	}
	cutoff := time.Now().Add(-olderThan)
	total := 0
	var after []byte
	for {
		n, scanned := 0, 0
		err := s.write(ctx, func(tx *bbolt.Tx) error {
			t := txn{tx}
			n, scanned = 0, 0
			prefix := stateQueuePrefix(state, queue)
			c := t.b(bucketByState).Cursor()
			k, _ := c.Seek(prefix)
			if after != nil {
				k, _ = c.Seek(after)
			}
			var keys [][]byte
			for ; k != nil && hasPrefix(k, prefix) && scanned < purgeBatch; k, _ = c.Next() {
				scanned++
				keys = append(keys, append([]byte(nil), k...))
			}
			for _, k := range keys {
				after = append(k, 0) // resume past it
				j, err := t.get(idOfByStateKey(k))
				if err != nil {
					return err
				}
				if j.FinishedAt.After(cutoff) {
					continue
				}
				if err := t.remove(j); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("purge %s jobs: %w", state, err)
		}
		total += n
		if scanned < purgeBatch {
			return total, nil
		}
	}
}

// RecoverExpired implements worker.Queue.
func (s *Store) RecoverExpired(ctx context.Context) (int, error) {
	n := 0
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		now := time.Now()
		n = 0
		err := recoverLeases(txn{tx}, now, func(k []byte) bool {
			if int64(binary.BigEndian.Uint64(k[:8])) > now.UnixNano() {
				return false
			}
			n++
			return true
		})
		if n > 0 {
			tx.OnCommit(s.signalReady)
			tx.OnCommit(s.signalChanged)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("recover expired leases: %w", err)
	}
	return n, nil
}

// Pause implements worker.Queue.
func (s *Store) Pause(ctx context.Context, queue string) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(prefixPaused+queue), []byte{1})
	})
}

// Resume implements worker.Queue.
func (s *Store) Resume(ctx context.Context, queue string) error {
	return s.write(ctx, func(tx *bbolt.Tx) error {
		tx.OnCommit(s.signalReady)
		return tx.Bucket(bucketMeta).Delete([]byte(prefixPaused + queue))
	})
}

// stateQueuePrefix is the by_state prefix for a state and, unless queue is
// "", one queue.
func stateQueuePrefix(state worker.State, queue string) []byte {
	p := []byte{stateCodes[state]}
	if queue != "" {
		p = append(p, queuePrefix(queue)...)
	}
	return p
}

// idOfByStateKey takes the ID after the queue name's terminating zero.
func idOfByStateKey(k []byte) string {
	for i := 1; i < len(k); i++ {
		if k[i] == 0 {
			return string(k[i+1:])
		}
	}
	return ""
}
