package local

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"kiln/worker"
)

// Completions and the next lease are one commit; a completion that cannot
// apply fails alone; counts follow.
func TestCompleteAndLease(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := b.store.Submit(ctx, newJob("q")); err != nil {
			t.Fatal(err)
		}
	}
	running, _, err := b.store.Lease(ctx, "q", 2, time.Hour)
	if err != nil || len(running) != 2 {
		t.Fatalf("lease: %v %v", running, err)
	}
	before := b.store.commits.Load()
	done := []worker.Completion{
		{ID: running[0].ID, Result: json.RawMessage(`{"ok":1}`)},
		{ID: "01NOSUCHJOB"},
		{ID: running[1].ID},
	}
	errs, leased, _, err := b.store.CompleteAndLease(ctx, done, "q", 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if commits := b.store.commits.Load() - before; commits != 1 {
		t.Errorf("%d commits, want 1", commits)
	}
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], worker.ErrNotFound) {
		t.Fatalf("errors %v; want only the unknown job's", errs)
	}
	if len(leased) != 2 || leased[0].State != worker.StateRunning || leased[0].Attempts != 1 || len(leased[0].Payload) == 0 {
		t.Fatalf("leased %+v; want two running jobs with their attempt counted and their payload", leased)
	}
	j, err := b.store.Get(ctx, running[0].ID)
	if err != nil || j.State != worker.StateSucceeded || string(j.Result) != `{"ok":1}` || string(j.Payload) != `{"n":1}` {
		t.Fatalf("completed job %+v %v", j, err)
	}
	// A completion of a job that is no longer running fails alone.
	errs, _, _, err = b.store.CompleteAndLease(ctx, []worker.Completion{{ID: running[0].ID}, {ID: leased[0].ID}}, "q", 0, time.Hour)
	if err != nil || !errors.Is(errs[0], worker.ErrWrongState) || errs[1] != nil {
		t.Fatalf("second completion: %v %v", errs, err)
	}
	stats, err := b.store.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := stats["q"].Counts
	if c[worker.StateSucceeded] != 3 || c[worker.StateRunning] != 1 || c[worker.StateQueued] != 1 {
		t.Fatalf("counts %v; want 3 succeeded, 1 running, 1 queued", c)
	}
}
