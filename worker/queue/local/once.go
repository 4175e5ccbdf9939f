package local

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

// SubmitOnce implements worker.OnceSubmitter: the check for the ID and
// the insert are one transaction. A job purged since is no longer known;
// a schedule does not submit a tick it has passed, so that it cannot come
// back.
func (s *Store) SubmitOnce(ctx context.Context, job *worker.JobRecord) (bool, error) {
	id := job.ID
	if id == "" {
		return false, fmt.Errorf("submit once to queue %q: the job has no ID", job.Queue)
	}
	if err := s.prepareSubmit([]*worker.JobRecord{job}); err != nil {
		return false, err
	}
	job.ID = id
	orig := *job
	byKey := make([]bool, 1)
	insert := s.insertJobs([]*worker.JobRecord{job}, byKey)
	known := false
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		*job, known = orig, false
		existing, err := s.txn(tx).get(id)
		switch {
		case err == nil:
			*job, known = *existing, true
			return nil
		case !errors.Is(err, worker.ErrNotFound):
			return err
		}
		return insert(tx)
	})
	if err != nil {
		return false, submitError(s.path, err)
	}
	return known || byKey[0], nil
}
