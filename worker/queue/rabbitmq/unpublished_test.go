package rabbitmq

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"kiln/worker"
)

// queueWithoutMessages does what a submitter that died between the two
// confirms of a submit did: the jobs' queued events are out, their
// messages are not. It then closes q, as that process is gone.
func queueWithoutMessages(t *testing.T, q *Queue, jobs ...*worker.JobRecord) {
	t.Helper()
	l, err := q.ensureQueues(map[string]int{"q": len(jobs)})
	if err != nil {
		t.Fatal(err)
	}
	if _, evs, err := q.submitMessages(l, jobs); err != nil {
		t.Fatal(err)
	} else if err := q.announceQueued(l, evs); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}

// A leader died between a job's queued event and its message: the job is
// on record as queued, holding its unique key, and nothing would run it.
// A submit of the key again is a duplicate of that job, and the next
// leader publishes its message, once; the job runs. The same holds for a
// SubmitOnce of a job's ID.
func TestAdmission_JobWithoutItsMessageRunsOnItsDuplicate(t *testing.T) {
	needNode(t)
	url, prefix := node.URL(""), randomPrefix()
	dead, err := Open(Options{URLs: []string{url}, Prefix: prefix, Queues: testQueues, Log: testLog(t), RecordsFile: t.TempDir() + "/records.db"})
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, dead)
	lost := uniqueJob("picture-7")
	lostOnce := &worker.JobRecord{ID: "follow-up-of-7", Queue: "q", Type: "test", Payload: json.RawMessage(`{}`)}
	queueWithoutMessages(t, dead, lost, lostOnce)

	q := openQueue(t, url, prefix, nil)
	if waitLeader(t, q) != q {
		t.Fatal("the new host did not take the lead")
	}
	ctx := context.Background()
	for i := range 2 {
		again := uniqueJob("picture-7")
		if dup, err := q.Submit(ctx, again); err != nil || !dup[0] || again.ID != lost.ID {
			t.Fatalf("submit %d of the key again: duplicate=%v id=%s err=%v; want a duplicate of %s", i+1, dup, again.ID, err, lost.ID)
		}
		once := &worker.JobRecord{ID: lostOnce.ID, Queue: "q", Type: "test", Payload: json.RawMessage(`{}`)}
		if dup, err := q.SubmitOnce(ctx, once); err != nil || !dup {
			t.Fatalf("SubmitOnce %d of %s again: duplicate=%v err=%v; want a duplicate", i+1, lostOnce.ID, dup, err)
		}
	}
	// Published again once each, not once per duplicate.
	q.mu.Lock()
	for _, id := range []string{lost.ID, lostOnce.ID} {
		if r := q.records[id]; r == nil || !r.resent {
			t.Errorf("job %s: record %+v, not marked as published again", id, r)
		}
	}
	q.mu.Unlock()
	ran := map[string]bool{}
	for range 2 {
		j := leaseWithin(t, q, "q", 15*time.Second)
		if j.ID != lost.ID && j.ID != lostOnce.ID || ran[j.ID] {
			t.Fatalf("leased %s after %v; want each of %s and %s once", j.ID, ran, lost.ID, lostOnce.ID)
		}
		ran[j.ID] = true
		if err := q.Complete(ctx, j.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := q.Get(ctx, lost.ID); err != nil || got.State != worker.StateSucceeded {
		t.Fatalf("the job of the key after its run: %+v %v", got, err)
	}
}
