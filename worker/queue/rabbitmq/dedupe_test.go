package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"kiln/worker"
)

// publishCopy puts one more message of job j's first copy on its work
// queue, as a publish again after a crash would.
func publishCopy(t *testing.T, q *Queue, j *worker.JobRecord) {
	t.Helper()
	msg := jobMessage(j, 0, 1, 1)
	publishConfirmed(t, q.names.jobsExchange(), j.Queue, msg)
}

// leaseToSentinel submits a sentinel job to queue through q and leases
// from queue until it comes, completing every job leased, and returns the
// IDs leased before it: the broker hands one consumer its messages in
// order, so every message published before the sentinel was settled by
// then.
func leaseToSentinel(t *testing.T, q *Queue, queue string) []string {
	t.Helper()
	ctx := context.Background()
	sentinel := &worker.JobRecord{Queue: queue, Type: "test", Payload: json.RawMessage(`{}`), MaxAttempts: 1}
	if _, err := q.Submit(ctx, sentinel); err != nil {
		t.Fatal(err)
	}
	var before []string
	for {
		j := leaseWithin(t, q, queue, 30*time.Second)
		if err := q.Complete(ctx, j.ID, nil); err != nil {
			t.Fatal(err)
		}
		if j.ID == sentinel.ID {
			return before
		}
		before = append(before, j.ID)
	}
}

func submitOne(t *testing.T, q *Queue, queue string) *worker.JobRecord {
	t.Helper()
	j := &worker.JobRecord{Queue: queue, Type: "test", Payload: json.RawMessage(`{"n":1}`), MaxAttempts: 3}
	if _, err := q.Submit(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// A second message of a job this process holds, in its buffer or running,
// is acked away: the job is leased once.
func TestDuplicate_HeldHereIsAckedAway(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	q := openQueue(t, node.URL(""), randomPrefix(), nil)

	// In the buffer: the copy, its second message and a job after them
	// are delivered before any lease, and one lease takes all there is.
	buffered := submitOne(t, q, "q")
	publishCopy(t, q, buffered)
	after := submitOne(t, q, "q")
	deadline := time.Now().Add(30 * time.Second)
	for !q.delivered("q", after.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("job %s not delivered within 30s", after.ID)
		}
		time.Sleep(10 * time.Millisecond) // polling for the broker's deliveries
	}
	got, _, err := q.Lease(ctx, "q", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ids := jobIDs(got); !slices.Equal(ids, []string{buffered.ID, after.ID}) {
		t.Fatalf("one lease took %v, want %s once and then %s", ids, buffered.ID, after.ID)
	}
	for _, j := range got {
		if err := q.Complete(ctx, j.ID, nil); err != nil {
			t.Fatal(err)
		}
	}

	// Running here.
	running := submitOne(t, q, "q")
	if got := leaseWithin(t, q, "q", 30*time.Second); got.ID != running.ID {
		t.Fatalf("leased %s, want %s", got.ID, running.ID)
	}
	publishCopy(t, q, running)
	if before := leaseToSentinel(t, q, "q"); len(before) != 0 {
		t.Fatalf("leased %v while %s ran; want its second message acked away", before, running.ID)
	}
	if err := q.Complete(ctx, running.ID, nil); err != nil {
		t.Fatalf("complete the job whose second message was acked away: %v", err)
	}
	for _, id := range []string{buffered.ID, running.ID} {
		if j, err := q.Get(ctx, id); err != nil || j.State != worker.StateSucceeded || j.Attempts != 1 {
			t.Fatalf("job %s: %+v %v, want succeeded on its one attempt", id, j, err)
		}
	}
	// Nothing of either comes back.
	if before := leaseToSentinel(t, q, "q"); len(before) != 0 {
		t.Fatalf("leased %v after both jobs finished", before)
	}
}

// A second message of a job another host runs is acked away once this
// host's records show it running.
func TestDuplicate_RunningOnAnotherHostIsAckedAway(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	url, prefix := node.URL(""), randomPrefix()
	// A prefetch of one: while the holder runs the job, the broker hands
	// every other message of the queue to the other host.
	one := func() map[string]worker.QueueConfig {
		cfg := worker.DefaultQueueConfig()
		cfg.Concurrency, cfg.MaxAttempts = 1, 3
		return map[string]worker.QueueConfig{"r": cfg}
	}
	hosts := []*Queue{
		openQueueWith(t, url, Options{URLs: []string{url}, Prefix: prefix, Queues: one, Log: testLog(t)}),
		openQueueWith(t, url, Options{URLs: []string{url}, Prefix: prefix, Queues: one, Log: testLog(t)}),
	}
	j := submitOne(t, hosts[0], "r")
	var holder, other *Queue
	deadline := time.Now().Add(30 * time.Second)
	for holder == nil && time.Now().Before(deadline) {
		for i, h := range hosts {
			got, _, err := h.Lease(ctx, "r", 1, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 1 && got[0].ID == j.ID {
				holder, other = h, hosts[1-i]
			}
		}
	}
	if holder == nil {
		t.Fatalf("job %s not leased by either host within 30s", j.ID)
	}
	for {
		r, err := other.Get(ctx, j.ID)
		if err == nil && r.State == worker.StateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other host never read that %s runs: %+v %v", j.ID, r, err)
		}
		time.Sleep(10 * time.Millisecond) // polling the other host's records
	}
	publishCopy(t, other, j)
	if before := leaseToSentinel(t, other, "r"); len(before) != 0 {
		t.Fatalf("the other host leased %v while %s ran on the holder", before, j.ID)
	}
	if err := holder.Complete(ctx, j.ID, nil); err != nil {
		t.Fatal(err)
	}
}

// A running job whose delivery died with its connection gets the
// redelivery in its place: it is not leased again, and its answer acks the
// message for good.
func TestDuplicate_RedeliveryOfARunningJobIsTakenOver(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	q := openQueue(t, node.URL(""), randomPrefix(), nil)
	j := submitOne(t, q, "q")
	if got := leaseWithin(t, q, "q", 30*time.Second); got.ID != j.ID {
		t.Fatalf("leased %s, want %s", got.ID, j.ID)
	}
	q.mu.Lock()
	old := q.link
	q.mu.Unlock()
	old.conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		q.mu.Lock()
		ls := q.leased[j.ID]
		taken := ls != nil && q.link != nil && q.link != old && ls.d.l == q.link
		q.mu.Unlock()
		if taken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the redelivery never took the running lease's place")
		}
		time.Sleep(10 * time.Millisecond) // polling for the reconnect and the redelivery
	}
	if before := leaseToSentinel(t, q, "q"); len(before) != 0 {
		t.Fatalf("leased %v while %s ran", before, j.ID)
	}
	if err := q.Complete(ctx, j.ID, nil); err != nil {
		t.Fatal(err)
	}
	if before := leaseToSentinel(t, q, "q"); len(before) != 0 {
		t.Fatalf("leased %v after %s was completed: its message was not acked", before, j.ID)
	}
	if got, err := q.Get(ctx, j.ID); err != nil || got.State != worker.StateSucceeded {
		t.Fatalf("job %s: %+v %v", j.ID, got, err)
	}
}

// A running job whose answer cannot be stored, because the broker is out
// of reach, is given up by this process (the pool says it will run again):
// once the broker is back, the copy it hands back is leased again at once,
// not taken for the running lease's dead delivery and held for an answer
// that never comes until the lease runs out.
func TestDuplicate_UnansweredAttemptRunsAgainAfterReconnect(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	path := newBrokerPath(t, node.URL(""))
	q := openQueue(t, path.url, randomPrefix(), nil)
	j := submitOne(t, q, "q")
	if got := leaseWithin(t, q, "q", 30*time.Second); got.ID != j.ID {
		t.Fatalf("leased %s, want %s", got.ID, j.ID)
	}
	path.cutOff()
	deadline := time.Now().Add(30 * time.Second)
	for q.Health() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the queue did not notice its connection was cut")
		}
		time.Sleep(10 * time.Millisecond) // polling for the queue to notice
	}
	err := q.Complete(ctx, j.ID, nil)
	if !errors.Is(err, worker.ErrUnavailable) {
		t.Fatalf("complete with the broker out of reach: %v, want %v", err, worker.ErrUnavailable)
	}
	t.Logf("complete with the broker out of reach: %v", err)
	path.mend()
	// The lease was for a minute and nothing here recovers expired
	// leases: only a copy judged anew is leased within the wait.
	again := leaseWithin(t, q, "q", 30*time.Second)
	if again.ID != j.ID {
		t.Fatalf("leased %s after the reconnect, want %s again", again.ID, j.ID)
	}
	if err := q.Complete(ctx, j.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Get(ctx, j.ID); err != nil || got.State != worker.StateSucceeded {
		t.Fatalf("job %s: %+v %v", j.ID, got, err)
	}
}

// The crash a chain must survive on this backend: a parent's follow-up was
// published and confirmed, and the parent died before its success was
// stored. When the parent runs again and publishes the follow-up again,
// the follow-up is still one job, run once.
func TestChain_FollowUpPublishedAgainRunsOnce(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	q := openQueue(t, node.URL(""), randomPrefix(), nil)
	parent := submitOne(t, q, "q")
	if got := leaseWithin(t, q, "q", 30*time.Second); got.ID != parent.ID {
		t.Fatalf("leased %s, want %s", got.ID, parent.ID)
	}
	step := &worker.JobRecord{ID: worker.FollowUpID(parent.ID, 1), Parent: parent.ID, Queue: "q", Type: "test",
		Payload: json.RawMessage(`{"step":1}`), MaxAttempts: 3, State: worker.StateQueued, RunAt: now(), CreatedAt: now()}
	// The first run's publish, confirmed, and nothing after it.
	publishCopy(t, q, step)
	if err := q.CompleteWithFollowUps(ctx, parent.ID, json.RawMessage(`{"ok":true}`), []*worker.JobRecord{step}); err != nil {
		t.Fatal(err)
	}
	if before := leaseToSentinel(t, q, "q"); !slices.Equal(before, []string{step.ID}) {
		t.Fatalf("leased %v before the sentinel, want the follow-up %s once", before, step.ID)
	}
	got, err := q.Get(ctx, step.ID)
	if err != nil || got.State != worker.StateSucceeded || got.Attempts != 1 || got.Parent != parent.ID {
		t.Fatalf("follow-up: %+v %v; want succeeded on its one attempt, with its parent", got, err)
	}
	if p, err := q.Get(ctx, parent.ID); err != nil || !slices.Equal(p.Children, []string{step.ID}) {
		t.Fatalf("parent: %+v %v; want its child %s", p, err, step.ID)
	}
}
