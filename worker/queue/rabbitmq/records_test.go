package rabbitmq

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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
	url, prefix := node.URL(""), randomPrefix()
	a := openQueue(t, url, prefix, nil)
	b := openQueue(t, url, prefix, nil)
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
