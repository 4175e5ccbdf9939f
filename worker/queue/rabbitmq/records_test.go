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
