package queuetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"kiln/worker"
)

// Control: what an operator or submitter decides about jobs — unique keys,
// submits under a chosen ID, cancel, pause.

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

// A job submitted once under its own ID is one job, however often and from
// whichever host its ID is submitted again, while it waits, runs or after
// it finished.
func testSubmitOnce(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	once, ok := q.(worker.OnceSubmitter)
	if !ok {
		t.Skip("skipped: the backend has no SubmitOnce")
	}
	others := []worker.OnceSubmitter{once}
	if b.Peer != nil {
		if peer, ok := b.Peer(t, q).(worker.OnceSubmitter); ok {
			others = append(others, peer)
		}
	}
	id := ulid.Make().String()
	first := job("q")
	first.ID = id
	dup, err := once.SubmitOnce(ctx, first)
	skipIfNotSupported(t, err)
	if err != nil || dup || first.ID != id || first.State != worker.StateQueued {
		t.Fatalf("first SubmitOnce of %s: duplicate=%v err=%v, job %s %s; want it stored, queued, under its ID", id, dup, err, first.ID, first.State)
	}
	// A host of a shared backend learns of a change of state a moment
	// after the host that made it: the answer is asked again until it
	// says the state, and must be a duplicate, unchanged, every time.
	again := func(when string, want worker.State) {
		t.Helper()
		for n, o := range others {
			for deadline := time.Now().Add(10 * time.Second); ; {
				j := job("q")
				j.ID, j.Payload = id, json.RawMessage(`{"again":true}`)
				dup, err := o.SubmitOnce(ctx, j)
				if err != nil || !dup || j.ID != id || string(j.Payload) != "{}" {
					t.Fatalf("SubmitOnce of %s again %s (host %d): duplicate=%v err=%v, answered %s payload %s; want the job as it is", id, when, n, dup, err, j.ID, j.Payload)
				}
				if j.State == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("SubmitOnce of %s again %s (host %d) answers it %s, want %s", id, when, n, j.State, want)
				}
				time.Sleep(20 * time.Millisecond) // polling a peer's view, not timing
			}
		}
	}
	again("while it waits", worker.StateQueued)
	got := lease(t, q, "q", 10)
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("leased %v, want only %s", ids(got), id)
	}
	again("while it runs", worker.StateRunning)
	complete(t, q, id)
	again("after it finished", worker.StateSucceeded)
	other := job("q")
	other.ID = ulid.Make().String()
	if dup, err := once.SubmitOnce(ctx, other); err != nil || dup {
		t.Fatalf("SubmitOnce of another ID: duplicate=%v err=%v, want a new job", dup, err)
	}
	// Any host may hold the new job's message: lease from each.
	hosts := []worker.Queue{q}
	for _, o := range others[1:] {
		hosts = append(hosts, o.(worker.Queue))
	}
	var leased []string
	for deadline := time.Now().Add(10 * time.Second); len(leased) == 0 && time.Now().Before(deadline); {
		for _, h := range hosts {
			leased = append(leased, ids(lease(t, h, "q", 10))...)
		}
	}
	if len(leased) != 1 || leased[0] != other.ID {
		t.Fatalf("leased %v after the other ID, want only %s: the first job must not run again", leased, other.ID)
	}
	noID := job("q")
	if _, err := once.SubmitOnce(ctx, noID); err == nil {
		t.Fatal("SubmitOnce of a job without an ID was taken")
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
