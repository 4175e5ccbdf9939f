package rabbitmq

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"kiln/worker"
)

// heldKind is a job kind "t" whose jobs run until the test lets one go,
// counting how many run at once on all hosts together.
type heldKind struct {
	active, peak *atomic.Int32
	release      chan struct{}
}

func (k heldKind) Type() string                          { return "t" }
func (k heldKind) Admit(json.RawMessage) (string, error) { return "", nil }
func (k heldKind) Handle(ctx context.Context, _ *worker.JobRecord) (json.RawMessage, error) {
	n := k.active.Add(1)
	defer k.active.Add(-1)
	for p := k.peak.Load(); n > p && !k.peak.CompareAndSwap(p, n); p = k.peak.Load() {
	}
	select {
	case <-k.release:
		return json.RawMessage(`{}`), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Two hosts share a queue with max_running 4 and a concurrency of 8 each:
// together they run 4 of its jobs, and when one host goes the other runs
// all 4.
func TestRunningShare_TwoHostsHoldOneMaxRunning(t *testing.T) {
	t.Parallel()
	needNode(t)
	queues := func() map[string]worker.QueueConfig {
		cfg := worker.DefaultQueueConfig()
		cfg.Concurrency, cfg.MaxRunning = 8, 4
		return map[string]worker.QueueConfig{"q": cfg}
	}
	prefix := randomPrefix()
	var active, peak atomic.Int32
	kind := heldKind{&active, &peak, make(chan struct{})}
	var hosts []*Queue
	var stops []func()
	for range 2 {
		q := openQueueWith(t, node.URL(""), Options{URLs: []string{node.URL("")}, Prefix: prefix, Queues: queues, Log: testLog(t),
			RecordsFile: filepath.Join(t.TempDir(), "records.db")})
		hosts = append(hosts, q)
		stops = append(stops, runPool(t, q, worker.Kinds{"t": kind}, queues, worker.RunOptions{Drain: func() time.Duration { return 0 }}))
	}
	submit := func(n int) {
		for range n {
			j := &worker.JobRecord{Queue: "q", Type: "t", Payload: json.RawMessage(`{}`)}
			if _, err := hosts[0].Submit(context.Background(), j); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitActive := func(want int32, why string) {
		t.Helper()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(30 * time.Second); active.Load() < want || (want == 0 && active.Load() != 0); <-tick.C {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d jobs running, want %d", why, active.Load(), want)
			}
		}
	}
	// Each counts the other: a share is max_running over two hosts,
	// rounded up. (How many jobs each then runs depends also on how the
	// broker spread the messages: a host with fewer than its share in
	// hand leaves the rest unused, so the fleet's peak is only bounded.)
	tick := time.NewTicker(5 * time.Millisecond)
	for deadline := time.Now().Add(30 * time.Second); hosts[0].RunningShare("q", 4) != 2 || hosts[1].RunningShare("q", 4) != 2; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("shares of max_running 4: %d and %d, want 2 each", hosts[0].RunningShare("q", 4), hosts[1].RunningShare("q", 4))
		}
	}
	tick.Stop()
	if a, b := hosts[0].RunningShare("q", 5), hosts[1].RunningShare("q", 5); a != 3 || b != 3 {
		t.Fatalf("shares of max_running 5 on two hosts: %d and %d, want 3 each", a, b)
	}
	submit(12)
	for released := 0; released < 12; released++ {
		waitActive(1, "two hosts, max_running 4")
		kind.release <- struct{}{}
	}
	waitActive(0, "all released")
	if p := peak.Load(); p > 4 {
		t.Fatalf("two hosts ran %d jobs at once with max_running 4", p)
	}
	// Host b goes; a's share becomes the whole once it counts one host.
	stops[1]()
	hosts[1].Close()
	submit(8)
	waitActive(4, "one host left, max_running 4")
	for range 4 {
		kind.release <- struct{}{}
	}
	waitActive(4, "one host left, the next 4")
	for range 4 {
		kind.release <- struct{}{}
	}
	if p := peak.Load(); p != 4 {
		t.Fatalf("ran %d jobs at once with max_running 4", p)
	}
}
