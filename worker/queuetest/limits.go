package queuetest

import (
	"errors"
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
