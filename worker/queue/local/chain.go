package local

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"kiln/worker"
)

var _ worker.ChainStore = (*Store)(nil)

// CompleteWithFollowUps implements worker.ChainStore: the success and the
// follow-ups are one transaction, so no crash can leave one without the
// other.
func (s *Store) CompleteWithFollowUps(ctx context.Context, id string, result json.RawMessage, followUps []*worker.JobRecord) error {
	err := s.change(ctx, id, false, func(t txn, j *worker.JobRecord, now time.Time) error {
		added, err := completeChain(t, j, result, followUps, now)
		if added {
			s.announce.ready = true
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("complete job %s with %d follow-ups: %w", id, len(followUps), err)
	}
	return nil
}

// completeChain ends a running job's attempt as a success and stores its
// follow-ups, which become its children; a job that ends cancelled has
// none. added says a follow-up was stored.
func completeChain(t txn, j *worker.JobRecord, result []byte, followUps []*worker.JobRecord, now time.Time) (added bool, err error) {
	if len(followUps) == 0 || j.CancelRequested {
		return false, completeJob(t, j, result, now)
	}
	if j.State != worker.StateRunning {
		return false, fmt.Errorf("%w: job is %s, not running", worker.ErrWrongState, j.State)
	}
	children := make([]string, len(followUps))
	for i, f := range followUps {
		children[i] = f.ID
		if f.ID == "" || f.Queue == "" {
			return false, fmt.Errorf("follow-up %d of job %s has no ID or queue", i+1, j.ID)
		}
	}
	for _, f := range followUps {
		// A job the store knows under this ID is the follow-up already:
		// it is never stored twice.
		if t.b(bucketJobs).Get([]byte(f.ID)) != nil {
			continue
		}
		// The transaction may be run again after a rollback: the
		// caller's records stay as they came.
		n := *f
		n.Parent = j.ID
		n.State, n.RunAt, n.CreatedAt, n.UpdatedAt = worker.StateQueued, now, now, now
		n.Attempts, n.MaxAttempts = 0, max(n.MaxAttempts, 1)
		n.UniqueKey, n.Children = "", nil
		if err := t.insert(&n); err != nil {
			return false, err
		}
		added = true
	}
	err = t.change(j, now, func(j *worker.JobRecord) {
		j.State = worker.StateSucceeded
		j.Result = result
		j.LeaseUntil = time.Time{}
		j.Children = children
	})
	return added, err
}
