package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"kiln/worker"
)

// residentRecords is how many records q holds in memory.
func residentRecords(q *Queue) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.records)
}

// Finished records leave memory for the records file and are still
// answered from it (Get, List, pages, Stats); a restart reads the stream on
// from the file's offset rather than from its start; a purge leaves
// nothing behind, also across a restart.
func TestRecords_LeaveMemoryAndReadOn(t *testing.T) {
	needNode(t)
	url := node.URL("")
	prefix := randomPrefix()
	file := filepath.Join(t.TempDir(), "records.db")
	opts := Options{URLs: []string{url}, Prefix: prefix, Queues: testQueues, Log: testLog(t), RecordsFile: file}
	q := openQueueWith(t, url, opts)
	q.mu.Lock()
	q.resident = 0
	q.mu.Unlock()
	ctx := context.Background()

	const n = 300
	var ids []string
	for len(ids) < n {
		var batch []*worker.JobRecord
		for range 50 {
			batch = append(batch, &worker.JobRecord{Queue: "q", Type: "test", Payload: json.RawMessage(`{}`), MaxAttempts: 3})
		}
		if _, err := q.Submit(ctx, batch...); err != nil {
			t.Fatal(err)
		}
		for _, j := range batch {
			ids = append(ids, j.ID)
		}
	}
	for done := 0; done < n; {
		jobs, _, err := q.Lease(ctx, "q", 16, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if err := q.Complete(ctx, j.ID, json.RawMessage(`{"ok":true}`)); err != nil {
				t.Fatal(err)
			}
			done++
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for residentRecords(q) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d records still in memory 20 s after their jobs ended", residentRecords(q))
		}
		time.Sleep(50 * time.Millisecond) // polling the flush that lets them go
	}
	check := func(q *Queue, when string) {
		t.Helper()
		j, err := q.Get(ctx, ids[0])
		if err != nil || j.State != worker.StateSucceeded || string(j.Result) != `{"ok":true}` {
			t.Fatalf("%s: Get %s = %+v, %v; want it succeeded with its result", when, ids[0], j, err)
		}
		all, err := q.List(ctx, "q", worker.StateSucceeded, 0)
		if err != nil || len(all) != n {
			t.Fatalf("%s: List succeeded = %d jobs, %v; want %d", when, len(all), err, n)
		}
		var paged []string
		after := ""
		for {
			page, next, err := q.ListAfter(ctx, "q", "", after, 128)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range page {
				paged = append(paged, j.ID)
			}
			if next == "" {
				break
			}
			after = next
		}
		if len(paged) != n {
			t.Fatalf("%s: pages of 128 gave %d jobs, want %d", when, len(paged), n)
		}
		for i := range paged {
			if paged[i] != all[i].ID {
				t.Fatalf("%s: page order differs from List at %d: %s, %s", when, i, paged[i], all[i].ID)
			}
		}
		st, err := q.Stats(ctx)
		if err != nil || st["q"] == nil || st["q"].Counts[worker.StateSucceeded] != n {
			t.Fatalf("%s: Stats = %+v, %v; want %d succeeded", when, st["q"], err, n)
		}
	}
	check(q, "records in the file")
	q.Close()

	again := openQueueWith(t, url, opts)
	if got := residentRecords(again); got >= n {
		t.Fatalf("after a restart %d records are in memory: the stream was read from its start, not on from the file's offset", got)
	}
	check(again, "after a restart")
	purged, err := again.Purge(ctx, "q", worker.StateSucceeded, 0)
	if err != nil || purged != n {
		t.Fatalf("purge = %d, %v; want %d", purged, err, n)
	}
	if _, err := again.Get(ctx, ids[0]); !errors.Is(err, worker.ErrNotFound) {
		t.Fatalf("Get of a purged job: %v, want not found", err)
	}
	again.Close()
	third := openQueueWith(t, url, opts)
	if _, err := third.Get(ctx, ids[n-1]); !errors.Is(err, worker.ErrNotFound) {
		t.Fatalf("Get of a purged job after a restart: %v, want not found", err)
	}
	if all, _ := third.List(ctx, "q", "", 0); len(all) != 0 {
		t.Fatalf("List after the purge and a restart: %d jobs, want 0", len(all))
	}
}
