// Package queuetest is the conformance suite every worker.Queue backend must
// pass: at-least-once delivery, priority and run_at order, retries, dead
// letters, unique keys, cancel, pause, limits and crash recovery. A backend's
// own test calls Run with a way to open it.
package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"kiln/worker"
)

// Backend opens queues for the suite.
type Backend struct {
	// Open returns a new, empty queue that asks maxQueued for each queue's
	// limit (nil: unlimited), closed by the backend when the test ends.
	Open func(t *testing.T, maxQueued worker.MaxQueued) worker.Queue
	// Crash simulates the process holding q dying without a word (leases
	// held, nothing released) and returns the queue as a new process would
	// open it.
	Crash func(t *testing.T, q worker.Queue) worker.Queue
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	tests := map[string]func(t *testing.T, b Backend){
		"AtLeastOnce":         testAtLeastOnce,
		"PriorityOrder":       testPriorityOrder,
		"RunAtOrder":          testRunAtOrder,
		"Retries":             testRetries,
		"DeadLetters":         testDeadLetters,
		"UniqueKeys":          testUniqueKeys,
		"Cancel":              testCancel,
		"Pause":               testPause,
		"CrashRecovery":       testCrashRecovery,
		"ExpiredLeases":       testExpiredLeases,
		"MaxQueued":           testMaxQueued,
		"Stats":               testStats,
		"BatchSubmitIsAtomic": testBatchAtomic,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

var ctx = context.Background()

// limitQ limits queue "q" to n waiting jobs and leaves the others unlimited.
func limitQ(n int) worker.MaxQueued {
	return func(queue string) int {
		if queue == "q" {
			return n
		}
		return 0
	}
}

func job(queue string) *worker.Job {
	return &worker.Job{Queue: queue, Type: "test", Payload: json.RawMessage(`{}`), MaxAttempts: 3}
}

func submit(t *testing.T, q worker.Queue, jobs ...*worker.Job) {
	t.Helper()
	if _, err := q.Submit(ctx, jobs...); err != nil {
		t.Fatalf("submit: %v", err)
	}
}

func lease(t *testing.T, q worker.Queue, queue string, max int) []*worker.Job {
	t.Helper()
	jobs, _, err := q.Lease(ctx, queue, max, time.Minute)
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	return jobs
}

func get(t *testing.T, q worker.Queue, id string) *worker.Job {
	t.Helper()
	j, err := q.Get(ctx, id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return j
}

func ids(jobs []*worker.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func testAtLeastOnce(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	var all []*worker.Job
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
	soon.RunAt = now.Add(50 * time.Millisecond)
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

func testRetries(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	j := job("q")
	submit(t, q, j)
	first := lease(t, q, "q", 1)
	if len(first) != 1 || first[0].Attempts != 1 {
		t.Fatalf("first lease %+v", first)
	}
	retryAt := time.Now().Add(30 * time.Millisecond)
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
	second := lease(t, q, "q", 1)
	if len(second) != 1 || second[0].Attempts != 2 {
		t.Fatalf("retry lease %+v", second)
	}
}

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

func testUniqueKeys(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	first, dup, other := job("q"), job("q"), job("r")
	first.UniqueKey, dup.UniqueKey, other.UniqueKey = "img-1", "img-1", "img-1"
	submit(t, q, first)
	duplicate, err := q.Submit(ctx, dup, other)
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
	if _, _, err := q.Lease(ctx, "q", 1, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.RecoverExpired(ctx); n != 0 {
		t.Fatalf("recovered %d jobs with live leases", n)
	}
	time.Sleep(20 * time.Millisecond) // let the lease run out: the clock is what is tested
	if n, err := q.RecoverExpired(ctx); err != nil || n != 1 {
		t.Fatalf("recovered %d (%v), want 1", n, err)
	}
	if got := lease(t, q, "q", 1); len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("expired job not leasable again: %+v", got)
	}
}

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
