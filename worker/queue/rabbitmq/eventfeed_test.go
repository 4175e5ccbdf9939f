package rabbitmq

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"kiln/worker"
	"kiln/worker/queuetest"
)

// feedCtx is the context of the event log tests.
var feedCtx = context.Background()

// A reader further behind than the tail keeps is served by a reader of its
// own with the same events under the same IDs; a reader behind what the
// stream still holds is told of the gap, with the first ID kept.
func TestEvents_BackfillAndGap(t *testing.T) {
	needNode(t)
	url := node.URL("")
	q := openQueueWith(t, url, Options{URLs: []string{url}, Prefix: randomPrefix(), Queues: testQueues, Log: testLog(t),
		RecordsMaxBytes: 96 << 10, RecordsSegmentBytes: 16 << 10})
	q.feed.mu.Lock()
	q.feed.ringMax = 4
	q.feed.mu.Unlock()
	head, err := q.Events(feedCtx, 0, worker.EventFilter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 12 {
		j := &worker.JobRecord{Queue: "ev", Type: "test", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), MaxAttempts: 3}
		if _, err := q.Submit(feedCtx, j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	live := queuetest.ReadEvents(t, q, head.Last, worker.EventFilter{Queue: "ev"}, len(ids))
	for i, e := range live {
		if e.Job != ids[i] || e.State != worker.StateQueued {
			t.Fatalf("event %d: %s %s, want %s queued", i, e.Job, e.State, ids[i])
		}
	}
	q.feed.mu.Lock()
	ringStart := q.feed.start
	q.feed.mu.Unlock()
	if first := offsetAfter(live[0].ID); first >= ringStart {
		t.Fatalf("the ring still holds offset %d (it starts at %d): the case reads nothing behind it", first, ringStart)
	}
	again := queuetest.ReadEvents(t, q, head.Last, worker.EventFilter{Queue: "ev"}, len(ids))
	for i := range live {
		if again[i] != live[i] {
			t.Fatalf("read again from behind the ring, event %d is %+v; first read %+v", i, again[i], live[i])
		}
	}

	// Fill the stream past its bound, until its first segment is gone.
	big := json.RawMessage(`{"pad":"` + strings.Repeat("x", 4000) + `"}`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		first, err := q.firstOffset(feedCtx)
		if err != nil {
			t.Fatal(err)
		}
		if first > offsetAfter(live[0].ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream still holds offset %d after 60 s of submits", offsetAfter(live[0].ID))
		}
		var batch []*worker.JobRecord
		for range 20 {
			batch = append(batch, &worker.JobRecord{Queue: "fill", Type: "test", Payload: big, MaxAttempts: 3})
		}
		if _, err := q.Submit(feedCtx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	page, err := q.Events(feedCtx, live[0].ID, worker.EventFilter{}, 50)
	if err != nil {
		t.Fatal(err)
	}
	if page.FirstKept <= live[0].ID+1 || len(page.Events) != 0 {
		t.Fatalf("after %d, behind the stream's first message: FirstKept %d with %d events; want a gap", live[0].ID, page.FirstKept, len(page.Events))
	}
	t.Logf("gap: after %d, first kept %d", live[0].ID, page.FirstKept)
}

// Asked for the head alone (as webhooks without a notify_url ask), a host
// that reads the records answers from its reader's place in the stream
// and starts no tail that would read and decode every event.
func TestEvents_HeadAloneStartsNoTail(t *testing.T) {
	needNode(t)
	url := node.URL("")
	q := openQueueWith(t, url, Options{URLs: []string{url}, Prefix: randomPrefix(), Queues: testQueues, Log: testLog(t)})
	var ids []string
	for i := range 3 {
		j := &worker.JobRecord{Queue: "ev", Type: "test", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		if _, err := q.Submit(feedCtx, j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	if err := q.readToNow(l, "test", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	head, err := q.Events(feedCtx, 0, worker.EventFilter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	q.feed.mu.Lock()
	tail := q.feed.tail
	q.feed.mu.Unlock()
	if tail != nil {
		t.Fatal("the head alone started the tail reader")
	}
	all := queuetest.ReadEvents(t, q, head.FirstKept-1, worker.EventFilter{Queue: "ev"}, len(ids))
	if last := all[len(all)-1]; last.Job != ids[len(ids)-1] || last.ID > head.Last {
		t.Fatalf("last event %+v; the head said the log ends at %d", last, head.Last)
	}
	if head.FirstKept == 0 || head.FirstKept > all[0].ID {
		t.Fatalf("head.FirstKept %d, first event %d", head.FirstKept, all[0].ID)
	}
}
