package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"kiln/worker"
)

// On a broker whose quorum queues have priorities (RabbitMQ 4.0), a job of
// a priority above 0 overtakes the waiting jobs on the broker, not only
// those this process holds: with a prefetch of one, it comes at most one
// job after it was submitted behind five. An older broker refuses it,
// naming why.
func TestPriorities_BrokerDeliversHighFirst(t *testing.T) {
	needNode(t)
	url := node.URL("")
	one := worker.DefaultQueueConfig()
	one.Concurrency, one.MaxAttempts = 1, 3
	q := openQueueWith(t, url, Options{URLs: []string{url}, Prefix: randomPrefix(), Log: testLog(t),
		Queues: func() map[string]worker.QueueConfig { return map[string]worker.QueueConfig{"p": one} }})
	ctx := context.Background()
	var lows []string
	for range 5 {
		j := &worker.JobRecord{Queue: "p", Type: "test", Payload: json.RawMessage(`{}`), MaxAttempts: 3}
		if _, err := q.Submit(ctx, j); err != nil {
			t.Fatal(err)
		}
		lows = append(lows, j.ID)
	}
	high := &worker.JobRecord{Queue: "p", Type: "test", Payload: json.RawMessage(`{}`), MaxAttempts: 3, Priority: 1}
	if _, err := q.Submit(ctx, high); err != nil {
		if errors.Is(err, worker.ErrNotSupported) {
			t.Skipf("skipped: %v", err)
		}
		t.Fatal(err)
	}
	var order []string
	for len(order) < 6 {
		jobs, _, err := q.Lease(ctx, "p", 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			order = append(order, j.ID)
			if err := q.Complete(ctx, j.ID, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	at := slices.Index(order, high.ID)
	if at > 1 || !slices.Equal(slices.DeleteFunc(slices.Clone(order), func(id string) bool { return id == high.ID }), lows) {
		t.Fatalf("lease order %v: want the high priority job %s first or second, the others in submit order %v", order, high.ID, lows)
	}
}
