package queuetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"kiln/worker"
)

// Limits: max_queued backpressure, all-or-nothing batches, and the counts
// that report them.

func testMaxQueued(t *testing.T, b Backend) {
	q := b.Open(t, limitQ(2))
	submit(t, q, job("q"), job("q"))
	_, err := q.Submit(ctx, job("q"))
	if !errors.Is(err, worker.ErrQueueFull) {
		t.Fatalf("submit over max_queued: %v, want ErrQueueFull", err)
	}
	if _, err := q.Submit(ctx, job("unlimited"), job("unlimited"), job("unlimited")); err != nil {
		t.Fatalf("another queue is not limited: %v", err)
	}
	lease(t, q, "q", 1) // running jobs do not count as waiting
	submit(t, q, job("q"))
	if _, err := q.Submit(ctx, job("q")); !errors.Is(err, worker.ErrQueueFull) {
		t.Fatalf("second fill: %v", err)
	}
	st, _ := q.Stats(ctx)
	if st["q"].Counts[worker.StateQueued] != 2 || st["q"].Counts[worker.StateRunning] != 1 {
		t.Fatalf("counts %v", st["q"].Counts)
	}
}

func testStats(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	a, c, d := job("q"), job("q"), job("q")
	d.RunAt = time.Now().Add(time.Hour)
	submit(t, q, a, c, d)
	got := lease(t, q, "q", 1)
	q.Fail(ctx, got[0].ID, "x", time.Time{})
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[worker.State]int{worker.StateQueued: 1, worker.StateScheduled: 1, worker.StateDead: 1}
	for s, n := range want {
		if st["q"].Counts[s] != n {
			t.Errorf("%s = %d, want %d (all: %v)", s, st["q"].Counts[s], n, st["q"].Counts)
		}
	}
	if st["q"].OldestQueued.IsZero() || time.Since(st["q"].OldestQueued) > time.Minute {
		t.Errorf("oldest queued = %v", st["q"].OldestQueued)
	}
}

func testBatchAtomic(t *testing.T, b Backend) {
	q := b.Open(t, limitQ(2))
	_, err := q.Submit(ctx, job("q"), job("q"), job("q"))
	if !errors.Is(err, worker.ErrQueueFull) {
		t.Fatalf("batch over the limit: %v", err)
	}
	if st, _ := q.Stats(ctx); st["q"] != nil && st["q"].Counts[worker.StateQueued] != 0 {
		t.Fatalf("part of a refused batch was stored: %v", st["q"].Counts)
	}
}

// testSubmitEach: a backend that stores each job of a group as its own
// change answers each on its own: the jobs over max_queued get
// ErrQueueFull, and the others are stored and delivered.
func testSubmitEach(t *testing.T, b Backend) {
	q := b.Open(t, limitQ(2))
	each, ok := q.(worker.EachSubmitter)
	if !ok {
		t.Skip("skipped: the backend stores a group of jobs only all or none (no worker.EachSubmitter)")
	}
	jobs := []*worker.JobRecord{job("q"), job("unlimited"), job("q"), job("q")}
	_, errs := each.SubmitEach(ctx, jobs)
	if len(errs) != len(jobs) {
		t.Fatalf("%d answers for %d jobs", len(errs), len(jobs))
	}
	for i, want := range []bool{false, false, false, true} {
		if full := errors.Is(errs[i], worker.ErrQueueFull); full != want || (!want && errs[i] != nil) {
			t.Errorf("job %d: %v, want queue full %v", i, errs[i], want)
		}
	}
	got := ids(lease(t, q, "q", 10))
	for len(got) < 2 {
		more := lease(t, q, "q", 10)
		if len(more) == 0 {
			break
		}
		got = append(got, ids(more)...)
	}
	if len(got) != 2 || !slices.Contains(got, jobs[0].ID) || !slices.Contains(got, jobs[2].ID) {
		t.Errorf("leased %v from q, want %s and %s", got, jobs[0].ID, jobs[2].ID)
	}
	leaseOne(t, q, "unlimited", jobs[1])
	if _, err := q.Get(ctx, jobs[3].ID); jobs[3].ID != "" && !errors.Is(err, worker.ErrNotFound) {
		t.Errorf("the refused job is known: %v", err)
	}
}
