package worker

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

var (
	// ErrNotFound is returned for a job ID the queue does not know.
	ErrNotFound = errors.New("job not found")
	// ErrQueueFull is returned when a submit would take a queue over its
	// max_queued: backpressure, never a silent drop.
	ErrQueueFull = errors.New("queue full")
	// ErrWrongState is returned for an operation the job's state forbids
	// (retrying a succeeded job, cancelling a dead one).
	ErrWrongState = errors.New("not allowed in the job's state")
)

// Queue is the storage seam: the local on-disk store implements it, and so
// can a broker-backed one; the conformance suite in worker/queuetest holds
// any implementation to the same semantics. Every method that changes a job
// returns only once the change is on stable storage.
type Queue interface {
	// Submit stores new jobs durably and atomically: all or none. It fills
	// in ID, State and timestamps. A job whose unique_key matches an
	// unfinished job of its queue is not added: *job becomes that job, and
	// duplicate[i] says so. The flag is an answer, never part of a job.
	Submit(ctx context.Context, jobs ...*JobRecord) (duplicate []bool, err error)
	// Lease takes up to max due jobs of a queue, highest priority first, then
	// oldest, marks them running with their attempt counted, and returns
	// them. next is when the earliest not-yet-due job becomes due (zero when
	// none). A paused queue leases nothing.
	Lease(ctx context.Context, queue string, max int, leaseFor time.Duration) (jobs []*JobRecord, next time.Time, err error)
	// Complete marks a running job succeeded with its result (or cancelled,
	// if a cancel was requested while it ran).
	Complete(ctx context.Context, id string, result json.RawMessage) error
	// Fail records a failed attempt: retried at retryAt, or dead when
	// retryAt is zero (cancelled, if a cancel was requested).
	Fail(ctx context.Context, id string, reason string, retryAt time.Time) error
	// Release hands a running job back without counting the attempt; used
	// when the daemon stops before the job could finish.
	Release(ctx context.Context, id string) error
	// Cancel ends a job that has not finished. A running job is only marked:
	// the caller cancels its handler, and the job ends cancelled when the
	// handler returns.
	Cancel(ctx context.Context, id string) (*JobRecord, error)
	// Retry puts a dead or cancelled job back in its queue with fresh
	// attempts.
	Retry(ctx context.Context, id string) (*JobRecord, error)
	// RetryAll does Retry for every dead job of a queue ("" = all queues).
	RetryAll(ctx context.Context, queue string) (int, error)
	// Purge deletes finished jobs in state that finished before olderThan
	// ago, in queue ("" = all).
	Purge(ctx context.Context, queue string, state State, olderThan time.Duration) (int, error)
	// RecoverExpired returns jobs whose lease has run out to their queue as
	// interrupted attempts (or dead, when out of attempts).
	RecoverExpired(ctx context.Context) (int, error)
	// Pause stops leasing from a queue; Resume starts it again. Both
	// survive restarts.
	Pause(ctx context.Context, queue string) error
	Resume(ctx context.Context, queue string) error
	// Get returns one job.
	Get(ctx context.Context, id string) (*JobRecord, error)
	// List returns jobs of a queue ("" = all) in a state ("" = all),
	// oldest first, at most limit.
	List(ctx context.Context, queue string, state State, limit int) ([]*JobRecord, error)
	// Stats returns per-queue counts by state, paused flags and the oldest
	// queued job's creation time, without reading every job.
	Stats(ctx context.Context) (map[string]*QueueStats, error)
	// Ready delivers a signal whenever newly leasable jobs may exist.
	Ready() <-chan struct{}
	// Changed returns a channel closed at the next change of any job's state.
	Changed() <-chan struct{}
	Close() error
}

// MaxQueued answers a queue's max_queued (0 = unlimited). Backends ask it
// at each submit, so a reloaded config applies without telling them.
type MaxQueued func(queue string) int

// QueueStats describes one queue.
type QueueStats struct {
	Counts       map[State]int `json:"counts"`
	Paused       bool          `json:"paused"`
	OldestQueued time.Time     `json:"oldest_queued,omitzero"`
}
