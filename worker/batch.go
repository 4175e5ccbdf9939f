package worker

import (
	"context"
	"encoding/json"
	"time"
)

// Completion is one job's successful end, waiting to be stored.
type Completion struct {
	ID     string
	Result json.RawMessage
	// FollowUps are stored with the success, by a queue that is also a
	// ChainStore (the pool sends none to another).
	FollowUps []*JobRecord
}

// BatchFinisher is a Queue that can store many jobs' successes and lease
// their queue's next jobs in one durable change. The pool uses it when the
// queue has it: a slot then goes from one job to the next on one commit
// instead of two (a completion, then a lease), and every job finished in
// the meantime shares that commit.
type BatchFinisher interface {
	// CompleteAndLease does Complete for each of done, whose jobs belong
	// to queue, and Lease(queue, max, leaseFor), as one change. errs[i] is
	// done[i]'s own failure (the job is not running any more, say), which
	// leaves the others alone; err is the failure of the whole change, in
	// which case nothing was stored.
	CompleteAndLease(ctx context.Context, done []Completion, queue string, max int, leaseFor time.Duration) (errs []error, leased []*JobRecord, next time.Time, err error)
}
