package queuetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"kiln/worker"
)

// Errors: callers tell a missing job from a forbidden step by errors.Is with
// worker.ErrNotFound and worker.ErrWrongState (the API answers 404 and 409
// from them), so every backend must wrap the same sentinels. A refused call
// leaves the job as it was.

// unknownID is an ID no backend hands out.
const unknownID = "no-such-job"

func testErrors(t *testing.T, b Backend) {
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		q := b.Open(t, nil)
		for _, c := range []struct {
			name string
			call func() error
		}{
			{"Get", func() error { _, err := q.Get(ctx, unknownID); return err }},
			{"Complete", func() error { return q.Complete(ctx, unknownID, json.RawMessage(`{}`)) }},
			{"Fail", func() error { return q.Fail(ctx, unknownID, "x", time.Now()) }},
			{"Release", func() error { return q.Release(ctx, unknownID) }},
			{"Cancel", func() error { _, err := q.Cancel(ctx, unknownID); return err }},
			{"Retry", func() error { _, err := q.Retry(ctx, unknownID); return err }},
		} {
			t.Run(c.name, func(t *testing.T) {
				if err := c.call(); !errors.Is(err, worker.ErrNotFound) {
					t.Fatalf("%s of an unknown job: err = %v, want ErrNotFound", c.name, err)
				}
			})
		}
	})

	t.Run("WrongState", func(t *testing.T) {
		t.Parallel()
		q := b.Open(t, nil)
		// One job in each state a refused call is tried on; the ones that
		// pass through a lease come first, while they are the only job
		// to lease.
		running := leased(t, q)
		succeeded := leased(t, q)
		complete(t, q, succeeded.ID)
		deadJob := dead(t, q)
		retrying := leased(t, q)
		fail(t, q, retrying.ID, time.Now().Add(time.Hour))
		cancelled := submitted(t, q)
		if _, err := q.Cancel(ctx, cancelled.ID); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		queued := submitted(t, q)
		scheduled := job("q")
		scheduled.RunAt = time.Now().Add(time.Hour)
		submit(t, q, scheduled)

		completeCall := func(j *worker.JobRecord) func() error {
			return func() error { return q.Complete(ctx, j.ID, json.RawMessage(`{}`)) }
		}
		failCall := func(j *worker.JobRecord) func() error {
			return func() error { return q.Fail(ctx, j.ID, "x", time.Now()) }
		}
		releaseCall := func(j *worker.JobRecord) func() error {
			return func() error { return q.Release(ctx, j.ID) }
		}
		cancelCall := func(j *worker.JobRecord) func() error {
			return func() error { _, err := q.Cancel(ctx, j.ID); return err }
		}
		retryCall := func(j *worker.JobRecord) func() error {
			return func() error { _, err := q.Retry(ctx, j.ID); return err }
		}
		for _, c := range []struct {
			name string
			job  *worker.JobRecord
			call func() error
		}{
			// Only a running job can end an attempt or be handed back.
			{"CompleteQueued", queued, completeCall(queued)},
			{"CompleteScheduled", scheduled, completeCall(scheduled)},
			{"CompleteRetrying", retrying, completeCall(retrying)},
			{"CompleteSucceeded", succeeded, completeCall(succeeded)},
			{"CompleteDead", deadJob, completeCall(deadJob)},
			{"FailQueued", queued, failCall(queued)},
			{"FailSucceeded", succeeded, failCall(succeeded)},
			{"FailCancelled", cancelled, failCall(cancelled)},
			{"ReleaseQueued", queued, releaseCall(queued)},
			{"ReleaseSucceeded", succeeded, releaseCall(succeeded)},
			{"ReleaseDead", deadJob, releaseCall(deadJob)},
			// A finished job cannot be cancelled.
			{"CancelSucceeded", succeeded, cancelCall(succeeded)},
			{"CancelDead", deadJob, cancelCall(deadJob)},
			{"CancelCancelled", cancelled, cancelCall(cancelled)},
			// Only dead and cancelled jobs are retried.
			{"RetryQueued", queued, retryCall(queued)},
			{"RetryScheduled", scheduled, retryCall(scheduled)},
			{"RetryRunning", running, retryCall(running)},
			{"RetryRetrying", retrying, retryCall(retrying)},
			{"RetrySucceeded", succeeded, retryCall(succeeded)},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := get(t, q, c.job.ID)
				if err := c.call(); !errors.Is(err, worker.ErrWrongState) {
					t.Fatalf("%s: err = %v, want ErrWrongState", c.name, err)
				}
				after := get(t, q, c.job.ID)
				if after.State != before.State || after.Attempts != before.Attempts {
					t.Fatalf("the refused call changed the job from %s (attempt %d) to %s (attempt %d)",
						before.State, before.Attempts, after.State, after.Attempts)
				}
			})
		}
	})
}
