package worker

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound is returned for a job ID the queue does not know.
var ErrNotFound = errors.New("job not found")

// Queue is the storage seam: the local on-disk store implements it, and so can
// a broker-backed one. Every method that changes a job returns only once the
// change is on stable storage.
type Queue interface {
	// Submit stores new jobs durably. It fills in ID, State, timestamps.
	Submit(ctx context.Context, jobs ...*Job) error
	// Lease takes up to max due jobs of a queue, marks them running with
	// their attempt counted, and returns them. next is when the earliest
	// not-yet-due job of that queue becomes due (zero when none).
	Lease(ctx context.Context, queue string, max int, leaseFor time.Duration) (jobs []*Job, next time.Time, err error)
	// Complete marks a running job succeeded with its result.
	Complete(ctx context.Context, id string, result json.RawMessage) error
	// Fail records a failed attempt: retried at retryAt, or dead when
	// retryAt is zero.
	Fail(ctx context.Context, id string, reason string, retryAt time.Time) error
	// Release hands a running job back without counting the attempt; used
	// when the daemon stops before the job could finish.
	Release(ctx context.Context, id string) error
	// Get returns one job.
	Get(ctx context.Context, id string) (*Job, error)
	// Counts returns the number of jobs per queue and state.
	Counts(ctx context.Context) (map[string]map[State]int, error)
	// Ready delivers a signal whenever newly leasable jobs may exist.
	Ready() <-chan struct{}
	// Changed returns a channel closed at the next change of any job's state.
	Changed() <-chan struct{}
	Close() error
}
