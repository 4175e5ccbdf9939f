// Package queuetest is the conformance suite every worker.Queue backend must
// pass: at-least-once delivery, priority and run_at order, release, retries,
// dead letters, unique keys, submits under a chosen ID, cancel, pause,
// limits, crash recovery, wake-ups, the error each call answers, retention,
// chains of follow-ups, and the event log. A backend's own test calls Run
// with a way to open it.
//
// The cases are grouped by concern: delivery.go, failure.go, control.go,
// limits.go, wakeups.go, errors.go, retention.go, chains.go and events.go. This file
// holds the Backend, Run and the helpers they share.
package queuetest

import (
	"context"
	"encoding/json"
	"errors"
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
	// Peer, if set, opens a second process on the same queue as q (another
	// host of a shared backend), closed by the backend when the test ends.
	Peer func(t *testing.T, q worker.Queue) worker.Queue
}

// cases is every case of the suite, in the order Run starts them.
var cases = []struct {
	name string
	fn   func(t *testing.T, b Backend)
}{
	// delivery.go
	{"AtLeastOnce", testAtLeastOnce},
	{"PriorityOrder", testPriorityOrder},
	{"RunAtOrder", testRunAtOrder},
	{"Release", testRelease},
	// failure.go
	{"Retries", testRetries},
	{"DeadLetters", testDeadLetters},
	{"CrashRecovery", testCrashRecovery},
	{"ExpiredLeases", testExpiredLeases},
	// control.go
	{"UniqueKeys", testUniqueKeys},
	{"SubmitOnce", testSubmitOnce},
	{"Cancel", testCancel},
	{"Pause", testPause},
	// limits.go
	{"MaxQueued", testMaxQueued},
	{"Stats", testStats},
	{"BatchSubmitIsAtomic", testBatchAtomic},
	{"SubmitEach", testSubmitEach},
	// wakeups.go
	{"Ready", testReady},
	{"Changed", testChanged},
	// errors.go
	{"Errors", testErrors},
	// retention.go
	{"Retention", testRetention},
	// chains.go
	{"Chains", testChains},
	// events.go
	{"Events", testEvents},
}

// Run runs the suite, each case in parallel with the others and on queues
// of its own.
func Run(t *testing.T, b Backend) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, b)
		})
	}
}

var ctx = context.Background()

// clockMargin is how far ahead the cases set a time they wait for (a
// run_at, a retry, a lease's end): far enough that a loaded machine does not
// reach it before the checks that must come first.
const clockMargin = time.Second

// limitQ limits queue "q" to n waiting jobs and leaves the others unlimited.
func limitQ(n int) worker.MaxQueued {
	return func(queue string) int {
		if queue == "q" {
			return n
		}
		return 0
	}
}

func job(queue string) *worker.JobRecord {
	return &worker.JobRecord{Queue: queue, Type: "test", Payload: json.RawMessage(`{}`), MaxAttempts: 3}
}

func submit(t *testing.T, q worker.Queue, jobs ...*worker.JobRecord) {
	t.Helper()
	_, err := q.Submit(ctx, jobs...)
	skipIfNotSupported(t, err)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
}

// skipIfNotSupported skips a case whose feature the backend refuses with
// worker.ErrNotSupported, printing the backend's reason: a refused feature
// is reported, never passed.
func skipIfNotSupported(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, worker.ErrNotSupported) {
		t.Skipf("skipped: %v", err)
	}
}

func lease(t *testing.T, q worker.Queue, queue string, max int) []*worker.JobRecord {
	t.Helper()
	jobs, _, err := q.Lease(ctx, queue, max, time.Minute)
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	return jobs
}

// leaseOne leases from queue and requires exactly the job want.
func leaseOne(t *testing.T, q worker.Queue, queue string, want *worker.JobRecord) *worker.JobRecord {
	t.Helper()
	got := lease(t, q, queue, 10)
	if len(got) != 1 || got[0].ID != want.ID {
		t.Fatalf("leased %v from %s, want only %s", ids(got), queue, want.ID)
	}
	return got[0]
}

func get(t *testing.T, q worker.Queue, id string) *worker.JobRecord {
	t.Helper()
	j, err := q.Get(ctx, id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return j
}

func ids(jobs []*worker.JobRecord) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

// fail ends a running job's attempt, retried at retryAt (zero: dead).
func fail(t *testing.T, q worker.Queue, id string, retryAt time.Time) {
	t.Helper()
	if err := q.Fail(ctx, id, "test failure", retryAt); err != nil {
		t.Fatalf("fail %s: %v", id, err)
	}
}

// complete ends a running job successfully.
func complete(t *testing.T, q worker.Queue, id string) {
	t.Helper()
	if err := q.Complete(ctx, id, json.RawMessage(`{}`)); err != nil {
		t.Fatalf("complete %s: %v", id, err)
	}
}
