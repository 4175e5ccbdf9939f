package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// waitLeader returns the one of qs that holds the admission lead, once
// one does (the lead is taken in the background after the first sync).
func waitLeader(t *testing.T, qs ...*Queue) *Queue {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, q := range qs {
			if q.admission.leading.Load() {
				return q
			}
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal("test ended")
		}
	}
	t.Fatal("no host took the admission lead within 30 s")
	return nil
}

func uniqueJob(key string) *worker.JobRecord {
	return &worker.JobRecord{Queue: "q", Type: "test", Payload: json.RawMessage(`{}`), UniqueKey: key}
}

// Two hosts submitting the same key at once, many times over: one job is
// added, every other submit is told it is a duplicate of that job.
func TestAdmission_OneJobPerKeyAcrossHosts(t *testing.T) {
	needNode(t)
	url, prefix := node.URL(""), randomPrefix()
	a := openQueue(t, url, prefix, nil)
	b := openQueue(t, url, prefix, nil)
	waitLeader(t, a, b)
	ctx := context.Background()
	const perHost = 25
	var mu sync.Mutex
	ids := map[string]int{}
	added := 0
	var wg sync.WaitGroup
	for _, q := range []*Queue{a, b} {
		for range perHost {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j := uniqueJob("img-1")
				dup, err := q.Submit(ctx, j)
				if err != nil {
					t.Errorf("submit: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				ids[j.ID]++
				if !dup[0] {
					added++
				}
			}()
		}
	}
	wg.Wait()
	if added != 1 || len(ids) != 1 {
		t.Fatalf("%d submits of one key on two hosts: %d added, job IDs %v; want 1 added and every answer naming it", 2*perHost, added, ids)
	}
	var id string
	for id = range ids {
	}
	for _, q := range []*Queue{a, b} {
		if got, err := q.Get(ctx, id); err != nil || got.State != worker.StateQueued {
			t.Fatalf("host %s: the admitted job: %+v %v", q.Host(), got, err)
		}
	}
	// The same key in another queue is another job; a finished job's key
	// is free again.
	other := uniqueJob("img-1")
	other.Queue = "r"
	if dup, err := b.Submit(ctx, other); err != nil || dup[0] || other.ID == id {
		t.Fatalf("the key in another queue: duplicate=%v id=%s err=%v", dup, other.ID, err)
	}
	got, _, err := a.Lease(ctx, "q", 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("lease: %v %v, want the one job %s", ids, err, id)
	}
	if err := a.Complete(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []*Queue{b, a} {
		again := uniqueJob("img-1")
		if dup, err := q.Submit(ctx, again); err != nil || dup[0] || again.ID == id {
			t.Fatalf("host %s after the job finished: duplicate=%v id=%s err=%v; want a new job", q.Host(), dup, again.ID, err)
		}
		if _, err := q.Cancel(ctx, again.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// The leader goes; the next one knows the keys the first admitted, and a
// new host asks it.
func TestAdmission_NextLeaderKnowsTheKeys(t *testing.T) {
	needNode(t)
	url, prefix := node.URL(""), randomPrefix()
	first, err := Open(Options{URLs: []string{url}, Prefix: prefix, Queues: testQueues, Log: testLog(t), RecordsFile: t.TempDir() + "/records.db"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	waitLeader(t, first)
	b := openQueue(t, url, prefix, nil)
	ctx := context.Background()
	held := uniqueJob("k")
	if dup, err := b.Submit(ctx, held); err != nil || dup[0] {
		t.Fatalf("submit through the leader: %v %v", dup, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if waitLeader(t, b) != b {
		t.Fatal("the other host did not take the lead")
	}
	again := uniqueJob("k")
	if dup, err := b.Submit(ctx, again); err != nil || !dup[0] || again.ID != held.ID {
		t.Fatalf("after the leader went: duplicate=%v id=%s err=%v; want job %s", dup, again.ID, err, held.ID)
	}
	c := openQueue(t, url, prefix, nil)
	each := []*worker.JobRecord{uniqueJob("k"), uniqueJob("k2"), uniqueJob("k2")}
	dup, errs := c.SubmitEach(ctx, each)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("SubmitEach on a new host, job %d: %v", i, err)
		}
	}
	if !dup[0] || each[0].ID != held.ID || dup[1] || !dup[2] || each[2].ID != each[1].ID {
		t.Fatalf("SubmitEach on a new host: duplicate=%v ids=%s %s %s; want [true false true], the held job and k2's first twice",
			dup, each[0].ID, each[1].ID, each[2].ID)
	}
	if got, err := c.Get(ctx, each[1].ID); err != nil || got.UniqueKey != "k2" {
		t.Fatalf("the new host does not know the job it just submitted: %+v %v", got, err)
	}
}

// A lead held by a process that does not serve it (hung, or not a kilnd):
// a submit with a unique key gets no answer and is told the backend is
// unavailable, naming the admission leader; submits without a key go on.
func TestAdmission_UnservedLeadIsUnavailable(t *testing.T) {
	t.Parallel()
	needNode(t)
	url, prefix := node.URL(""), randomPrefix()
	ch := brokerChannel(t, false)
	lead := names{prefix: prefix}.lead(admissionLead)
	if _, err := ch.QueueDeclare(lead, true, false, false, false, amqp.Table{
		"x-queue-type": "quorum", "x-single-active-consumer": true, "x-delivery-limit": int64(unlimitedDeliveries),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume(lead, "", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q := openQueue(t, url, prefix, nil)
	ctx := context.Background()
	start := time.Now()
	_, err := q.Submit(ctx, uniqueJob("k"))
	if !errors.Is(err, worker.ErrUnavailable) || !strings.Contains(err.Error(), "admission leader") {
		t.Fatalf("submit with a unique key and an unserved lead: %v; want unavailable, naming the admission leader", err)
	}
	if waited := time.Since(start); waited < admitWithin {
		t.Fatalf("answered after %s, before the %s wait", waited, admitWithin)
	}
	t.Logf("refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
	plain := uniqueJob("")
	if _, err := q.Submit(ctx, plain); err != nil {
		t.Fatalf("a submit without a key: %v", err)
	}
}
