package queuetest

import (
	"errors"
	"testing"
	"time"

	"kiln/worker"
)

// Failure: failed attempts are retried after their backoff, jobs out of
// attempts are dead letters that can be retried or purged, and leases that
// run out or die with their process come back.

func testRetries(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	j := job("q")
	submit(t, q, j)
	first := lease(t, q, "q", 1)
	if len(first) != 1 || first[0].Attempts != 1 {
		t.Fatalf("first lease %+v", first)
	}
	retryAt := time.Now().Add(clockMargin)
	if err := q.Fail(ctx, j.ID, "flaky", retryAt); err != nil {
		t.Fatal(err)
	}
	if got := get(t, q, j.ID); got.State != worker.StateRetrying || got.LastError != "flaky" || len(got.Errors) != 1 {
		t.Fatalf("after failure: %s %q %v", got.State, got.LastError, got.Errors)
	}
	if got := lease(t, q, "q", 1); len(got) != 0 {
		t.Fatal("a retrying job was leased before its backoff ended")
	}
	time.Sleep(time.Until(retryAt))
	// A dispatch loop leases again when a Lease comes back empty; a
	// broker's timers may hand the job back a little after its time on a
	// busy machine, so the test leases as such a loop would, for a while.
	var second []*worker.JobRecord
	for deadline := time.Now().Add(retryWithin); len(second) == 0 && time.Now().Before(deadline); {
		second = lease(t, q, "q", 1)
	}
	if len(second) != 1 || second[0].Attempts != 2 {
		t.Fatalf("retry lease within %s of its time: %+v", retryWithin, second)
	}
}

// retryWithin bounds how long after its retry time a job must be leasable.
const retryWithin = 10 * time.Second

func testDeadLetters(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	a, c := job("q"), job("q")
	submit(t, q, a, c)
	for _, j := range lease(t, q, "q", 2) {
		if err := q.Fail(ctx, j.ID, "broken "+j.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	dead, err := q.List(ctx, "q", worker.StateDead, 10)
	if err != nil || len(dead) != 2 {
		t.Fatalf("dead list %v %v", ids(dead), err)
	}
	if dead[0].Errors[0].Error != "broken "+dead[0].ID {
		t.Fatalf("dead job error history %+v", dead[0].Errors)
	}
	retried, err := q.Retry(ctx, a.ID)
	if err != nil || retried.State != worker.StateQueued || retried.Attempts != 0 {
		t.Fatalf("retry: %+v %v", retried, err)
	}
	if _, err := q.Retry(ctx, a.ID); !errors.Is(err, worker.ErrWrongState) {
		t.Fatalf("retrying a queued job: err = %v, want ErrWrongState", err)
	}
	n, err := q.RetryAll(ctx, "q")
	if err != nil || n != 1 {
		t.Fatalf("retry all: %d %v", n, err)
	}
	for _, j := range lease(t, q, "q", 2) {
		q.Fail(ctx, j.ID, "again", time.Time{})
	}
	if n, err := q.Purge(ctx, "q", worker.StateDead, time.Hour); err != nil || n != 0 {
		t.Fatalf("purge older than 1h: %d %v, want 0", n, err)
	}
	if n, err := q.Purge(ctx, "q", worker.StateDead, 0); err != nil || n != 2 {
		t.Fatalf("purge: %d %v, want 2", n, err)
	}
	if _, err := q.Get(ctx, a.ID); !errors.Is(err, worker.ErrNotFound) {
		t.Fatalf("purged job still there: %v", err)
	}
	if _, err := q.Purge(ctx, "q", worker.StateQueued, 0); err == nil {
		t.Fatal("purging queued jobs was allowed")
	}
}

func testCrashRecovery(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	again, last := job("q"), job("q")
	last.MaxAttempts = 1
	submit(t, q, again, last)
	if got := lease(t, q, "q", 2); len(got) != 2 {
		t.Fatalf("leased %d", len(got))
	}
	q = b.Crash(t, q)
	if got := get(t, q, last.ID); got.State != worker.StateDead {
		t.Fatalf("job out of attempts after a crash: %s, want dead", got.State)
	}
	got := lease(t, q, "q", 10)
	if len(got) != 1 || got[0].ID != again.ID || got[0].Attempts != 2 {
		t.Fatalf("after crash leased %+v; want %s on attempt 2", got, again.ID)
	}
}

func testExpiredLeases(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	j := job("q")
	submit(t, q, j)
	held, _, err := q.Lease(ctx, "q", 1, clockMargin)
	if err != nil || len(held) != 1 {
		t.Fatalf("lease: %v %v", ids(held), err)
	}
	if n, _ := q.RecoverExpired(ctx); n != 0 {
		t.Fatalf("recovered %d jobs with live leases", n)
	}
	time.Sleep(time.Until(held[0].LeaseUntil.Add(time.Millisecond))) // let the lease run out: the clock is what is tested
	if n, err := q.RecoverExpired(ctx); err != nil || n != 1 {
		t.Fatalf("recovered %d (%v), want 1", n, err)
	}
	if got := lease(t, q, "q", 1); len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("expired job not leasable again: %+v", got)
	}
}
