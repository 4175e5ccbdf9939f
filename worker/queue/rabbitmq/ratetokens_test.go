package rabbitmq

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kiln/worker"
	"kiln/worker/queuetest"
)

// startedKind is a job kind "t" that notes when and on which host each
// job started.
type startedKind struct {
	host string
	log  *startTimes
}

type startTimes struct {
	mu     sync.Mutex
	at     []time.Time
	byHost map[string]int
}

func (k startedKind) Type() string                          { return "t" }
func (k startedKind) Admit(json.RawMessage) (string, error) { return "", nil }
func (k startedKind) Handle(context.Context, *worker.JobRecord) (json.RawMessage, error) {
	k.log.mu.Lock()
	k.log.at = append(k.log.at, time.Now())
	k.log.byHost[k.host]++
	k.log.mu.Unlock()
	return json.RawMessage(`{}`), nil
}

// runPool runs a pool of kinds over q, as a kilnd does, until the
// returned stop or the test's end.
func runPool(t *testing.T, q *Queue, kinds worker.Kinds, queues func() map[string]worker.QueueConfig, opts worker.RunOptions) (stop func()) {
	t.Helper()
	pool := worker.NewPool(q, kinds, queues, testLog(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx, opts) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// Two hosts share a queue limited to 20/s with a burst of 5: together
// they start its jobs at that rate, each running a share.
func TestFleetRates_TwoHostsHoldOneRate(t *testing.T) {
	t.Parallel()
	needNode(t)
	rate := worker.Rate{Count: 20, Per: time.Second}
	queues := func() map[string]worker.QueueConfig {
		cfg := worker.DefaultQueueConfig()
		cfg.Concurrency, cfg.Rate, cfg.Burst = 8, rate, 5
		return map[string]worker.QueueConfig{"q": cfg}
	}
	prefix := randomPrefix()
	log := &startTimes{byHost: map[string]int{}}
	var hosts []*Queue
	for _, name := range []string{"a", "b"} {
		q := openQueueWith(t, node.URL(""), Options{URLs: []string{node.URL("")}, Prefix: prefix, Queues: queues, Log: testLog(t),
			RecordsFile: filepath.Join(t.TempDir(), "records.db")})
		hosts = append(hosts, q)
		runPool(t, q, worker.Kinds{"t": startedKind{name, log}}, queues, worker.RunOptions{})
	}
	const n = 160
	var ids []string
	for range n {
		j := &worker.JobRecord{Queue: "q", Type: "t", Payload: json.RawMessage(`{}`)}
		if _, err := hosts[0].Submit(context.Background(), j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		j, err := hosts[0].WaitFinished(ctx, id)
		cancel()
		if err != nil {
			t.Fatalf("job %s: %v", id, err)
		}
		if j.State != worker.StateSucceeded {
			t.Fatalf("job %s %s: %s", id, j.State, j.LastError)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.at) != n {
		t.Fatalf("%d starts of %d jobs", len(log.at), n)
	}
	// A token each host holds in hand may start at once with the burst.
	if err := queuetest.CheckRate(log.at, rate, 5+len(hosts), 0.1); err != nil {
		t.Fatal(err)
	}
	if log.byHost["a"] == 0 || log.byHost["b"] == 0 {
		t.Fatalf("jobs started per host %v: want both to run some", log.byHost)
	}
	t.Logf("%d jobs at %s burst 5 on two hosts: %v, from %s to %s", n, rate, log.byHost,
		log.at[0].Format("15:04:05.000"), log.at[len(log.at)-1].Format("15:04:05.000"))
}
