package queuetest

import (
	"errors"
	"testing"
	"time"

	"kiln/worker"
)

// Control: what an operator or submitter decides about jobs — unique keys,
// cancel, pause.

func testUniqueKeys(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	first, dup, other := job("q"), job("q"), job("r")
	first.UniqueKey, dup.UniqueKey, other.UniqueKey = "img-1", "img-1", "img-1"
	submit(t, q, first)
	duplicate, err := q.Submit(ctx, dup, other)
	skipIfNotSupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if len(duplicate) != 2 || !duplicate[0] || dup.ID != first.ID {
		t.Fatalf("duplicate submit got %s (duplicate=%v), want %s", dup.ID, duplicate, first.ID)
	}
	if duplicate[1] || other.ID == first.ID {
		t.Fatal("the same key in another queue was deduplicated")
	}
	got := lease(t, q, "q", 10)
	if len(got) != 1 {
		t.Fatalf("leased %d, want the one job", len(got))
	}
	q.Complete(ctx, got[0].ID, nil)
	again := job("q")
	again.UniqueKey = "img-1"
	duplicate, err = q.Submit(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if duplicate[0] || again.ID == first.ID {
		t.Fatal("a finished job's key still deduplicated")
	}
}

func testCancel(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	queued, running := job("q"), job("q")
	submit(t, q, queued, running)
	if got, err := q.Cancel(ctx, queued.ID); err != nil || got.State != worker.StateCancelled {
		t.Fatalf("cancel queued: %+v %v", got, err)
	}
	leased := lease(t, q, "q", 10)
	if len(leased) != 1 || leased[0].ID != running.ID {
		t.Fatalf("leased %v; the cancelled job must not run", ids(leased))
	}
	got, err := q.Cancel(ctx, running.ID)
	if err != nil || !got.CancelRequested || got.State != worker.StateRunning {
		t.Fatalf("cancel running: %+v %v", got, err)
	}
	q.Fail(ctx, running.ID, "context canceled", time.Now())
	if got := get(t, q, running.ID); got.State != worker.StateCancelled {
		t.Fatalf("running job after cancel and return: %s", got.State)
	}
	if _, err := q.Cancel(ctx, running.ID); !errors.Is(err, worker.ErrWrongState) {
		t.Fatalf("cancel of a cancelled job: %v", err)
	}
}

func testPause(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	submit(t, q, job("q"), job("other"))
	if err := q.Pause(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if got := lease(t, q, "q", 10); len(got) != 0 {
		t.Fatal("a paused queue was leased from")
	}
	if got := lease(t, q, "other", 10); len(got) != 1 {
		t.Fatal("pausing one queue stopped another")
	}
	q = b.Crash(t, q)
	if st, _ := q.Stats(ctx); !st["q"].Paused {
		t.Fatal("pause did not survive a restart")
	}
	if err := q.Resume(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if got := lease(t, q, "q", 10); len(got) != 1 {
		t.Fatal("resumed queue leased nothing")
	}
}
