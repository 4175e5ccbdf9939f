package queuetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"kiln/worker"
)

// Chains: a job's follow-ups are stored with its success, under IDs derived
// from its own, each a job of its own that retries and dies alone; a
// follow-up whose ID the queue already knows (queued, running or finished)
// is never stored, nor run, as a second job.

// chainStore is the backend as a worker.ChainStore, or the case is skipped
// with the reason.
func chainStore(t *testing.T, q worker.Queue) worker.ChainStore {
	t.Helper()
	c, ok := q.(worker.ChainStore)
	if !ok {
		t.Skipf("skipped: %T stores no follow-ups (no worker.ChainStore)", q)
	}
	return c
}

// openChains opens a backend for a chain case, or skips the case if the
// backend stores no follow-ups.
func openChains(t *testing.T, b Backend) worker.Queue {
	t.Helper()
	q := b.Open(t, nil)
	chainStore(t, q)
	return q
}

// running submits a job to queue and leases it: the parent of a chain,
// running, so that its completion may store follow-ups.
func running(t *testing.T, q worker.Queue, queue string) *worker.JobRecord {
	t.Helper()
	j := job(queue)
	submit(t, q, j)
	leaseOne(t, q, queue, j)
	return j
}

// listAll lists every job in queue ("" for all queues), up to 100.
func listAll(t *testing.T, q worker.Queue, queue string) []*worker.JobRecord {
	t.Helper()
	all, err := q.List(ctx, queue, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// followUp is the n-th follow-up of parent, to run in queue.
func followUp(parent *worker.JobRecord, n int, queue, payload string) *worker.JobRecord {
	return &worker.JobRecord{ID: worker.FollowUpID(parent.ID, n), Parent: parent.ID, Queue: queue, Type: "test",
		Payload: json.RawMessage(payload), MaxAttempts: 2}
}

func completeWith(t *testing.T, q worker.Queue, id string, followUps ...*worker.JobRecord) {
	t.Helper()
	if err := chainStore(t, q).CompleteWithFollowUps(ctx, id, json.RawMessage(`{"done":true}`), followUps); err != nil {
		t.Fatalf("complete %s with %d follow-ups: %v", id, len(followUps), err)
	}
}

// leaseThrough leases one at a time from queue until the job last comes,
// completing every other job it gets, and returns the IDs leased before
// it. A backend that hands out jobs in the order they were stored has
// handed out every job stored before last by then.
func leaseThrough(t *testing.T, q worker.Queue, queue string, last *worker.JobRecord) []string {
	t.Helper()
	var before []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, j := range lease(t, q, queue, 1) {
			if j.ID == last.ID {
				complete(t, q, j.ID)
				return before
			}
			before = append(before, j.ID)
			complete(t, q, j.ID)
		}
	}
	t.Fatalf("job %s not leased from %s within 30s (leased before it: %v)", last.ID, queue, before)
	return nil
}

// leaseN leases from queue until it holds n jobs, and returns them.
func leaseN(t *testing.T, q worker.Queue, queue string, n int) []*worker.JobRecord {
	t.Helper()
	var got []*worker.JobRecord
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		got = append(got, lease(t, q, queue, n-len(got))...)
	}
	if len(got) != n {
		t.Fatalf("leased %v from %s within 30s, want %d jobs", ids(got), queue, n)
	}
	return got
}

func testChains(t *testing.T, b Backend) {
	t.Run("StoredWithSuccess", func(t *testing.T) {
		t.Parallel()
		q := openChains(t, b)
		parent := running(t, q, "q")
		first, second := followUp(parent, 1, "q", `{"step":1}`), followUp(parent, 2, "q2", `{"step":2}`)
		completeWith(t, q, parent.ID, first, second)

		p := get(t, q, parent.ID)
		if p.State != worker.StateSucceeded || string(p.Result) != `{"done":true}` {
			t.Fatalf("parent after its completion: %s, result %s", p.State, p.Result)
		}
		if want := []string{parent.ID + "-1", parent.ID + "-2"}; !slices.Equal(p.Children, want) {
			t.Fatalf("parent's children %v, want %v", p.Children, want)
		}
		for _, f := range []*worker.JobRecord{first, second} {
			c := get(t, q, f.ID)
			if c.State != worker.StateQueued || c.Parent != parent.ID || c.Queue != f.Queue || c.Type != "test" || string(c.Payload) != string(f.Payload) || c.Attempts != 0 {
				t.Fatalf("follow-up %s: %+v; want queued in %s with parent %s and payload %s", f.ID, c, f.Queue, parent.ID, f.Payload)
			}
		}
		if got := leaseOne(t, q, "q", first); got.Parent != parent.ID || got.Attempts != 1 {
			t.Fatalf("leased follow-up %+v, want parent %s on attempt 1", got, parent.ID)
		}
		leaseOne(t, q, "q2", second)

		// The parent has finished: its success is not stored again, and
		// neither are its follow-ups.
		err := chainStore(t, q).CompleteWithFollowUps(ctx, parent.ID, nil, []*worker.JobRecord{followUp(parent, 1, "q", `{}`)})
		if !errors.Is(err, worker.ErrWrongState) {
			t.Fatalf("second completion of a succeeded parent: err = %v, want ErrWrongState", err)
		}
		all := listAll(t, q, "")
		if len(all) != 3 {
			t.Fatalf("the queue holds %v, want the parent and its two follow-ups", ids(all))
		}
	})

	t.Run("StepsRetryAndDieAlone", func(t *testing.T) {
		t.Parallel()
		q := openChains(t, b)
		parent := running(t, q, "q")
		flaky, fine := followUp(parent, 1, "q", `{}`), followUp(parent, 2, "q", `{}`)
		completeWith(t, q, parent.ID, flaky, fine)
		for _, j := range leaseN(t, q, "q", 2) {
			if j.ID == flaky.ID {
				fail(t, q, j.ID, time.Now())
			} else {
				complete(t, q, j.ID)
			}
		}
		if got := get(t, q, flaky.ID); got.State != worker.StateRetrying {
			t.Fatalf("failed follow-up is %s, want retrying", got.State)
		}
		again := leaseThrough(t, q, "q", flaky)
		if len(again) != 0 {
			t.Fatalf("leased %v before the retried follow-up", again)
		}
		// leaseThrough completed it; fail a second chain's step for good.
		second := running(t, q, "q")
		doomed := followUp(second, 1, "q", `{}`)
		completeWith(t, q, second.ID, doomed)
		leaseOne(t, q, "q", doomed)
		fail(t, q, doomed.ID, time.Time{})
		if got := get(t, q, doomed.ID); got.State != worker.StateDead {
			t.Fatalf("follow-up failed for good is %s, want dead", got.State)
		}
		for _, id := range []string{parent.ID, second.ID, fine.ID, flaky.ID} {
			if got := get(t, q, id); got.State != worker.StateSucceeded {
				t.Fatalf("job %s is %s after a follow-up failed; a step's failure is its own", id, got.State)
			}
		}
		if r, err := q.Retry(ctx, doomed.ID); err != nil || r.ID != doomed.ID || r.Parent != second.ID {
			t.Fatalf("retry of a dead follow-up: %+v %v; want the same job, with its parent", r, err)
		}
	})

	t.Run("CrashRunsTheSameStep", func(t *testing.T) {
		t.Parallel()
		q := openChains(t, b)
		parent := running(t, q, "q")
		step := followUp(parent, 1, "q", `{}`)
		completeWith(t, q, parent.ID, step)
		leaseOne(t, q, "q", step)
		q = b.Crash(t, q)
		got := leaseOne(t, q, "q", step)
		if got.Attempts != 2 || got.Parent != parent.ID {
			t.Fatalf("follow-up after a crash: attempt %d, parent %q; want attempt 2 of the same job", got.Attempts, got.Parent)
		}
		next := followUp(got, 1, "q", `{}`)
		completeWith(t, q, got.ID, next)
		if n := get(t, q, next.ID); n.ID != parent.ID+"-1-1" || n.Parent != step.ID {
			t.Fatalf("the step after a crash: %+v", n)
		}
		all := listAll(t, q, "")
		if len(all) != 3 {
			t.Fatalf("the queue holds %v, want three steps", ids(all))
		}
	})

	t.Run("CancelledParentHasNone", func(t *testing.T) {
		t.Parallel()
		q := openChains(t, b)
		parent := running(t, q, "q")
		if _, err := q.Cancel(ctx, parent.ID); err != nil {
			t.Fatal(err)
		}
		completeWith(t, q, parent.ID, followUp(parent, 1, "q", `{}`))
		if p := get(t, q, parent.ID); p.State != worker.StateCancelled || len(p.Children) != 0 {
			t.Fatalf("parent cancelled while it ran: %s with children %v, want cancelled with none", p.State, p.Children)
		}
		if _, err := q.Get(ctx, worker.FollowUpID(parent.ID, 1)); !errors.Is(err, worker.ErrNotFound) {
			t.Fatalf("follow-up of a cancelled job: err = %v, want ErrNotFound", err)
		}
	})

	// What a crash between storing follow-ups and marking their parent
	// would make a backend do: the same follow-up, by ID, once more.
	t.Run("KnownIDNotAJobTwice", func(t *testing.T) {
		t.Parallel()
		q := openChains(t, b)
		parents := []*worker.JobRecord{job("q"), job("q"), job("q"), job("q")}
		submit(t, q, parents...)
		leaseN(t, q, "q", 4)
		// Stored and handed out in this order: the first is leased and
		// stays running, the second is leased and finished, the third
		// stays queued.
		running, finished, queued := followUp(parents[0], 1, "r", `{"who":"running"}`), followUp(parents[0], 2, "r", `{"who":"finished"}`), followUp(parents[0], 3, "r", `{"who":"queued"}`)
		completeWith(t, q, parents[0].ID, running, finished, queued)
		for _, want := range []*worker.JobRecord{running, finished} {
			if got := leaseN(t, q, "r", 1); got[0].ID != want.ID {
				t.Fatalf("leased %s from r, want %s: follow-ups are handed out in the order they were stored", got[0].ID, want.ID)
			}
		}
		complete(t, q, finished.ID)
		// Other parents name the same IDs: each is known, in its state.
		for i, p := range parents[1:] {
			again := []*worker.JobRecord{queued, running, finished}[i]
			dup := *again
			dup.Parent, dup.Payload = p.ID, json.RawMessage(`{"who":"again"}`)
			completeWith(t, q, p.ID, &dup)
		}
		for _, c := range []struct {
			j     *worker.JobRecord
			state worker.State
		}{{queued, worker.StateQueued}, {running, worker.StateRunning}, {finished, worker.StateSucceeded}} {
			g := get(t, q, c.j.ID)
			if g.State != c.state || g.Parent != parents[0].ID || string(g.Payload) != string(c.j.Payload) {
				t.Fatalf("known job %s after another parent named it: %s, parent %s, payload %s; want it %s, unchanged", c.j.ID, g.State, g.Parent, g.Payload, c.state)
			}
		}
		sentinel := job("r")
		submit(t, q, sentinel)
		before := leaseThrough(t, q, "r", sentinel)
		if fmt.Sprint(before) != fmt.Sprint([]string{queued.ID}) {
			t.Fatalf("leased %v before a job submitted after them; want only %s, once", before, queued.ID)
		}
		complete(t, q, running.ID)
		all := listAll(t, q, "r")
		if len(all) != 4 {
			t.Fatalf("queue r holds %v, want three follow-ups and the sentinel", ids(all))
		}
	})

	t.Run("BatchCompletion", func(t *testing.T) {
		t.Parallel()
		q := openChains(t, b)
		bf, ok := q.(worker.BatchFinisher)
		if !ok {
			t.Skipf("skipped: %T has no CompleteAndLease", q)
		}
		a, c := job("q"), job("q")
		submit(t, q, a, c)
		lease(t, q, "q", 2)
		next := followUp(a, 1, "q", `{}`)
		errs, leased, _, err := bf.CompleteAndLease(ctx, []worker.Completion{{ID: a.ID, FollowUps: []*worker.JobRecord{next}}, {ID: c.ID}}, "q", 5, time.Minute)
		if err != nil || errs[0] != nil || errs[1] != nil {
			t.Fatalf("complete and lease: %v %v", errs, err)
		}
		// The follow-up was stored by the change that leased: it is
		// leased by it too.
		if len(leased) != 1 || leased[0].ID != next.ID || leased[0].Parent != a.ID {
			t.Fatalf("leased %v with the completion, want the follow-up %s", ids(leased), next.ID)
		}
		if p := get(t, q, a.ID); !slices.Equal(p.Children, []string{next.ID}) {
			t.Fatalf("parent's children %v", p.Children)
		}
	})
}
