package local

import (
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	"go.etcd.io/bbolt"

	"kiln/worker"
)

// Get implements worker.Queue.
func (s *Store) Get(ctx context.Context, id string) (*worker.JobRecord, error) {
	var j *worker.JobRecord
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

// List implements worker.Queue.
func (s *Store) List(ctx context.Context, queue string, state worker.State, limit int) ([]*worker.JobRecord, error) {
	if limit <= 0 {
		limit = 100
	}
	var jobs []*worker.JobRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		states := worker.States
		if state != "" {
			states = []worker.State{state}
		}
		for _, st := range states {
			prefix := stateQueuePrefix(st, queue)
			c := tx.Bucket(bucketByState).Cursor()
			for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix) && len(jobs) < limit; k, _ = c.Next() {
				j, err := getJob(tx, idOfByStateKey(k))
				if err != nil {
					return err
				}
				jobs = append(jobs, j)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs in %s: %w", s.path, err)
	}
	return jobs, nil
}

// Stats implements worker.Queue. It reads the counters and one index key
// per queue, never every job, so it stays fast under a large backlog.
func (s *Store) Stats(ctx context.Context) (map[string]*worker.QueueStats, error) {
	stats := map[string]*worker.QueueStats{}
	get := func(q string) *worker.QueueStats {
		if stats[q] == nil {
			stats[q] = &worker.QueueStats{Counts: map[worker.State]int{}}
		}
		return stats[q]
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		t := txn{tx: tx}
		c := tx.Bucket(bucketCounts).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) < 2 || len(v) != 8 {
				continue
			}
			q := string(k[:len(k)-2])
			get(q).Counts[stateByCode[k[len(k)-1]]] = t.countOf(q, stateByCode[k[len(k)-1]])
		}
		mc := tx.Bucket(bucketMeta).Cursor()
		for k, _ := mc.Seek([]byte(prefixPaused)); k != nil && hasPrefix(k, []byte(prefixPaused)); k, _ = mc.Next() {
			get(string(k[len(prefixPaused):])).Paused = true
		}
		for q, st := range stats {
			if st.Counts[worker.StateQueued] == 0 {
				continue
			}
			// By-state keys end in ULIDs, which sort by creation time. A
			// follow-up's ID is its parent's with a suffix: it sorts with
			// its parent, and its record says when it was made.
			prefix := stateQueuePrefix(worker.StateQueued, q)
			if k, _ := tx.Bucket(bucketByState).Cursor().Seek(prefix); k != nil && hasPrefix(k, prefix) {
				id := idOfByStateKey(k)
				if u, err := ulid.ParseStrict(id); err == nil {
					st.OldestQueued = time.UnixMilli(int64(u.Time()))
				} else if j, err := t.getRecord(id); err == nil {
					st.OldestQueued = j.CreatedAt
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read queue stats from %s: %w", s.path, err)
	}
	return stats, nil
}
