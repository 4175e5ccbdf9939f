package worker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"kiln/worker"
)

// A handler's progress is on its pool while the job runs, and gone once
// it has finished.
func TestPoolHoldsProgressWhileRunning(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := setupPool(t, handlerFunc(func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
		worker.ReportProgress(ctx, worker.Progress{Done: 3, Total: 8, At: time.Now()})
		<-release
		return nil, nil
	}), map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{})
	j := b.submit(t, "q", 1)

	deadline := time.Now().Add(20 * time.Second)
	var mark uint64
	for {
		got, next, changed := b.pool.ProgressSince(mark)
		mark = next
		if len(got) == 1 {
			if got[0].Job != j.ID || got[0].Queue != "q" || got[0].Attempt != 1 || got[0].Progress.Done != 3 || got[0].Progress.Total != 8 {
				t.Fatalf("progress = %+v", got[0])
			}
			break
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
			t.Fatal("no progress reported")
		}
	}
	if p, ok := b.pool.Progress(j.ID); !ok || p.String() != "3/8 (37%)" {
		t.Fatalf("Progress = %v, %v", p, ok)
	}
	close(release)
	waitFinished(t, b.store, j.ID)
	// The handler's goroutine forgets the job after the store has it
	// finished: poll for that.
	for _, ok := b.pool.Progress(j.ID); ok; _, ok = b.pool.Progress(j.ID) {
		if time.Now().After(deadline) {
			t.Fatal("progress of a finished job still shown")
		}
		time.Sleep(time.Millisecond) // polling a condition, not timing
	}
}

// Without a pool, reporting progress does nothing.
func TestReportProgressWithoutListener(t *testing.T) {
	worker.ReportProgress(context.Background(), worker.Progress{Done: 1, Total: 100})
}
