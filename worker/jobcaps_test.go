package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

// A job stored with more attempts than its queue allows (as one another
// AMQP client published might be) gets the queue's, not its own.
func TestPoolCapsAJobsAttemptsAtItsQueues(t *testing.T) {
	t.Parallel()
	b := setupPool(t, handlerFunc(func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
		return nil, errors.New("always broken")
	}), map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{})
	j := waitFinished(t, b.store, b.submit(t, "q", 2147483648).ID)
	if j.State != worker.StateDead || j.Attempts != fast.MaxAttempts {
		t.Fatalf("job = state %s attempts %d, want dead after the queue's %d", j.State, j.Attempts, fast.MaxAttempts)
	}
}

// A job's own timeout longer than its queue's is cut to the queue's.
func TestPoolCapsAJobsTimeoutAtItsQueues(t *testing.T) {
	t.Parallel()
	cfg := fast
	cfg.Timeout = worker.Duration(20 * time.Millisecond)
	b := setupPool(t, handlerFunc(func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}), map[string]worker.QueueConfig{"q": cfg}, worker.RunOptions{})
	long, _ := time.ParseDuration("2562047h")
	j := &worker.JobRecord{Queue: "q", Type: "t", Payload: json.RawMessage(`{}`), MaxAttempts: 1, Timeout: worker.Duration(long)}
	if _, err := b.store.Submit(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	got := waitFinished(t, b.store, j.ID)
	if got.State != worker.StateDead || !strings.Contains(got.LastError, "timed out after 20ms") {
		t.Fatalf("job: %s %q, want timed out after the queue's 20ms", got.State, got.LastError)
	}
}

// The caps themselves: a job asks for less, or gets the queue's.
func TestQueueConfigCapsJobs(t *testing.T) {
	q := worker.QueueConfig{MaxAttempts: 5, Timeout: worker.Duration(time.Minute)}
	for _, c := range []struct {
		attempts, wantAttempts int
		timeout, wantTimeout   time.Duration
	}{
		{0, 5, 0, time.Minute},
		{3, 3, time.Second, time.Second},
		{5, 5, time.Minute, time.Minute},
		{6, 5, time.Hour, time.Minute},
	} {
		j := &worker.JobRecord{MaxAttempts: c.attempts, Timeout: worker.Duration(c.timeout)}
		if got := q.AttemptsFor(j); got != c.wantAttempts {
			t.Errorf("AttemptsFor(%d) = %d, want %d", c.attempts, got, c.wantAttempts)
		}
		if got := q.TimeoutFor(j); got != c.wantTimeout {
			t.Errorf("TimeoutFor(%s) = %s, want %s", c.timeout, got, c.wantTimeout)
		}
	}
	// A queue without a timeout leaves the job's.
	if got := (worker.QueueConfig{}).TimeoutFor(&worker.JobRecord{Timeout: worker.Duration(time.Hour)}); got != time.Hour {
		t.Errorf("no queue timeout: TimeoutFor = %s, want 1h", got)
	}
}
