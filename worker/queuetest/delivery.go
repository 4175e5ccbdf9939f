package queuetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"kiln/worker"
)

// Delivery: every job is leased, one holder at a time, in priority then age
// order, never before its run_at; a released job is handed out again.

func testAtLeastOnce(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	var all []*worker.JobRecord
	for i := 0; i < 50; i++ {
		all = append(all, job("q"))
	}
	submit(t, q, all...)
	seen := map[string]bool{}
	for {
		got := lease(t, q, "q", 7)
		if len(got) == 0 {
			break
		}
		for _, j := range got {
			if seen[j.ID] {
				t.Fatalf("job %s leased twice while its lease was held", j.ID)
			}
			seen[j.ID] = true
			if err := q.Complete(ctx, j.ID, json.RawMessage(`{"n":1}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != len(all) {
		t.Fatalf("leased %d of %d jobs", len(seen), len(all))
	}
	for _, j := range all {
		if got := get(t, q, j.ID); got.State != worker.StateSucceeded || string(got.Result) != `{"n":1}` {
			t.Fatalf("job %s: %s %s", j.ID, got.State, got.Result)
		}
	}
}

func testPriorityOrder(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	low1, high, mid, low2 := job("q"), job("q"), job("q"), job("q")
	high.Priority, mid.Priority = 10, 5
	submit(t, q, low1)
	submit(t, q, high, mid)
	submit(t, q, low2)
	var order []string
	for i := 0; i < 4; i++ {
		order = append(order, ids(lease(t, q, "q", 1))...)
	}
	want := []string{high.ID, mid.ID, low1.ID, low2.ID}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("lease order %v, want high, mid, then the lows oldest first %v", order, want)
	}
}

func testRunAtOrder(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	now := time.Now()
	later, soon, ready := job("q"), job("q"), job("q")
	later.RunAt = now.Add(time.Hour)
	soon.RunAt = now.Add(clockMargin)
	submit(t, q, later, soon, ready)
	if soon.State != worker.StateScheduled || ready.State != worker.StateQueued {
		t.Fatalf("states after submit: soon %s ready %s", soon.State, ready.State)
	}
	got, next, err := q.Lease(ctx, "q", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids(got)) != fmt.Sprint([]string{ready.ID}) {
		t.Fatalf("leased %v before their run_at; want only %s", ids(got), ready.ID)
	}
	if !next.Equal(soon.RunAt) {
		t.Fatalf("next due %v, want %v", next, soon.RunAt)
	}
	time.Sleep(time.Until(next)) // the behaviour under test is the clock
	got = lease(t, q, "q", 10)
	if fmt.Sprint(ids(got)) != fmt.Sprint([]string{soon.ID}) {
		t.Fatalf("leased %v once due; want %s", ids(got), soon.ID)
	}
}

// testRelease: a job handed back by a stopping worker is at once leasable
// again, queued, and the attempt it was on does not count against it.
func testRelease(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	j := job("q")
	submit(t, q, j)
	if first := leaseOne(t, q, "q", j); first.Attempts != 1 {
		t.Fatalf("first lease on attempt %d, want 1", first.Attempts)
	}
	if err := q.Release(ctx, j.ID); err != nil {
		t.Fatalf("release a running job: %v", err)
	}
	got := get(t, q, j.ID)
	if got.State != worker.StateQueued || got.Attempts != 0 {
		t.Fatalf("released job is %s with %d attempts counted, want queued with 0", got.State, got.Attempts)
	}
	if !got.LeaseUntil.IsZero() {
		t.Fatalf("released job still holds a lease until %v", got.LeaseUntil)
	}
	// No RecoverExpired and no wait: the lease is given up, not run out.
	again := leaseOne(t, q, "q", j)
	if again.Attempts != 1 {
		t.Fatalf("lease after release on attempt %d, want 1: the released attempt was counted", again.Attempts)
	}
	complete(t, q, j.ID)
	if got := get(t, q, j.ID); got.State != worker.StateSucceeded || len(got.Errors) != 0 {
		t.Fatalf("released then completed job: %s, errors %v", got.State, got.Errors)
	}

	if err := q.Release(ctx, "no-such-job"); !errors.Is(err, worker.ErrNotFound) {
		t.Fatalf("release of an unknown job: err = %v, want ErrNotFound", err)
	}
	queued := job("q")
	submit(t, q, queued)
	if err := q.Release(ctx, queued.ID); !errors.Is(err, worker.ErrWrongState) {
		t.Fatalf("release of a queued job: err = %v, want ErrWrongState", err)
	}
	if err := q.Release(ctx, j.ID); !errors.Is(err, worker.ErrWrongState) {
		t.Fatalf("release of a succeeded job: err = %v, want ErrWrongState", err)
	}
	if got := get(t, q, j.ID); got.State != worker.StateSucceeded {
		t.Fatalf("a refused release changed the job to %s", got.State)
	}
}
