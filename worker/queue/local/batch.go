package local

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

var _ worker.BatchFinisher = (*Store)(nil)

// CompleteAndLease implements worker.BatchFinisher.
func (s *Store) CompleteAndLease(ctx context.Context, done []worker.Completion, queue string, max int, leaseFor time.Duration) ([]error, []*worker.JobRecord, time.Time, error) {
	var (
		errs   []error
		leased []*worker.JobRecord
		next   time.Time
	)
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		t := s.txn(tx)
		errs = make([]error, len(done))
		now := time.Now()
		for i, c := range done {
			j, err := t.getRecord(c.ID)
			if err == nil && j.State != worker.StateRunning {
				err = fmt.Errorf("%w: job is %s, not running", worker.ErrWrongState, j.State)
			}
			if err != nil {
				// Found out before anything changed: this job alone fails.
				errs[i] = fmt.Errorf("complete job %s: %w", c.ID, err)
				continue
			}
			added, err := completeChain(t, j, c.Result, c.FollowUps, now)
			if err != nil {
				return err
			}
			if added {
				s.announce.ready = true
			}
			s.announce.changed = true
		}
		var err error
		leased, next, err = s.leaseIn(t, queue, max, leaseFor)
		return err
	})
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("complete %d jobs and lease from queue %q in %s: %w", len(done), queue, s.path, err)
	}
	return errs, leased, next, nil
}
