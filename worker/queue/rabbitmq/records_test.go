package rabbitmq

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// The broker writes an entry of its own where a segment of the records
// stream starts, which takes an offset and is no message: a host reading
// the records reads past it and learns of every job another host
// submitted, across several segments.
func TestRecords_ReadPastSegmentStarts(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	url, prefix := node.URL(""), randomPrefix()
	open := func() *Queue {
		return openQueueWith(t, url, Options{URLs: []string{url}, Prefix: prefix, Queues: testQueues, Log: testLog(t),
			RecordsSegmentBytes: 64 << 10})
	}
	a, b := open(), open()

	payload := json.RawMessage(`{"pad":"` + strings.Repeat("x", 2000) + `"}`)
	var last string
	for range 10 {
		jobs := make([]*worker.JobRecord, 20)
		for i := range jobs {
			jobs[i] = &worker.JobRecord{Queue: "other", Type: "test", Payload: payload, MaxAttempts: 3}
		}
		if _, err := a.Submit(ctx, jobs...); err != nil {
			t.Fatal(err)
		}
		last = jobs[len(jobs)-1].ID
	}
	// 200 jobs of 2 KB: about 400 KB of queued events, several segments.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := b.Get(ctx, last); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.mu.Lock()
			off := b.offset
			b.mu.Unlock()
			t.Fatalf("the other host has not read the last job's event a minute later (its reader stands at offset %d)", off)
		}
		time.Sleep(20 * time.Millisecond) // polling the other host's records
	}
	list, err := b.List(ctx, "other", worker.StateQueued, 0)
	if err != nil || len(list) != 200 {
		t.Fatalf("the other host knows %d queued jobs (%v), want 200", len(list), err)
	}
}

// The events of a job's start and success leave out its payload; every
// host still shows the job with it.
func TestRecords_PayloadKeptThroughLeanEvents(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	a, b := twoHosts(t)
	j := &worker.JobRecord{Queue: "q", Type: "test", Payload: json.RawMessage(`{"input":"/srv/a.jpg"}`), MaxAttempts: 3}
	if _, err := a.Submit(ctx, j); err != nil {
		t.Fatal(err)
	}
	got, _, err := a.Lease(ctx, "q", 1, time.Minute)
	if err != nil || len(got) != 1 || string(got[0].Payload) != string(j.Payload) {
		t.Fatalf("leased %+v %v, want the job with its payload", got, err)
	}
	if err := a.Complete(ctx, j.ID, json.RawMessage(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []*Queue{a, b} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, err := q.Get(ctx, j.ID)
			if err == nil && r.State == worker.StateSucceeded {
				if string(r.Payload) != string(j.Payload) || string(r.Result) != `{"ok":true}` {
					t.Fatalf("%s: payload %s result %s", q.Host(), r.Payload, r.Result)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: job %+v %v 30s after it succeeded", q.Host(), r, err)
			}
			time.Sleep(20 * time.Millisecond) // polling the host's records
		}
	}
}

// A job another client publishes with its own message_id runs as it is,
// under that ID, and a second message with the same ID (a producer's
// retry of a publish it saw no confirm for) does not run it again.
func TestForeignJob_MessageIDRunsOnce(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	q := openQueue(t, node.URL(""), randomPrefix(), nil)
	id := "order-4711-thumbs"
	publish := func(id string) {
		publishConfirmed(t, q.names.jobsExchange(), "q", amqp.Publishing{
			DeliveryMode: amqp.Persistent, ContentType: "application/json", MessageId: id,
			Body: []byte(`{"type":"test","payload":{"input":"/srv/a.jpg"}}`),
		})
	}
	publish(id)
	got := leaseWithin(t, q, "q", 30*time.Second)
	if got.ID != id || string(got.Payload) != `{"input":"/srv/a.jpg"}` || got.Attempts != 1 {
		t.Fatalf("leased %+v, want job %s on its first attempt with its payload", got, id)
	}
	if err := q.Complete(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	// The broker hands one consumer its messages in order: once the job
	// published after the second message is leased, that message was
	// taken and settled.
	publish(id)
	publish("order-4712-thumbs")
	if next := leaseWithin(t, q, "q", 30*time.Second); next.ID != "order-4712-thumbs" {
		t.Fatalf("leased %s, want order-4712-thumbs: the second message of %s ran again", next.ID, id)
	}
	if j, err := q.Get(ctx, id); err != nil || j.State != worker.StateSucceeded || j.Attempts != 1 {
		t.Fatalf("job %+v %v, want succeeded after one attempt", j, err)
	}
}

// leaseWithin leases one job from queue, waiting up to within for it.
func leaseWithin(t *testing.T, q *Queue, queue string, within time.Duration) *worker.JobRecord {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		jobs, _, err := q.Lease(context.Background(), queue, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 {
			return jobs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing to lease from %s within %s", queue, within)
		}
		select {
		case <-q.Ready():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// An event message the broker confirmed but that never reached the records
// (as a stream that fails over can lose) is published again once the
// publisher's reader has provably passed where it should have been, and
// the other hosts learn of it.
func TestRecords_LostEventMessageIsPublishedAgain(t *testing.T) {
	needNode(t)
	t.Parallel()
	ctx := context.Background()
	a, b := twoHosts(t)

	at := now()
	j := &worker.JobRecord{ID: newID(at), Queue: "q", Type: "test", Payload: json.RawMessage(`{}`), MaxAttempts: 3,
		State: worker.StateSucceeded, Attempts: 1, CreatedAt: at, UpdatedAt: at, FinishedAt: at}
	ev := &event{Kind: evJob, Host: a.Host(), Seq: 3, Gen: 1, Copy: 1, Job: j}
	msg := eventsMessages(a.Host(), []*event{ev})[0]
	a.stampMessage(&msg)
	// Confirmed, as far as a knows, and never in the stream.
	out := []outgoing{{a.names.eventsExchange(), ev.routingKey(), msg}}
	a.expectMessages(out)
	a.settleMessages(out, []bool{true})

	deadline := time.Now().Add(4 * probeEvery)
	for {
		got, err := b.Get(ctx, j.ID)
		if err == nil && got.State == worker.StateSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other host does not know the job %s after %s: %+v %v", j.ID, 4*probeEvery, got, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the other host's records
	}
}

// twoHosts opens two queues under one prefix, as two kilnd hosts sharing
// the test broker.
func twoHosts(t *testing.T) (a, b *Queue) {
	t.Helper()
	url, prefix := node.URL(""), randomPrefix()
	return openQueue(t, url, prefix, nil), openQueue(t, url, prefix, nil)
}
