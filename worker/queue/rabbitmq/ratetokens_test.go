package rabbitmq

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

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
// they start its jobs at that rate, each running a share, and never more
// than the burst at once: the token each host holds in hand counts toward
// it.
func TestFleetRates_TwoHostsHoldOneRate(t *testing.T) {
	t.Parallel()
	hostsAtOneRate(t, 2, 5, 5)
}

// A burst no larger than the hosts still lets every host start jobs at the
// rate: the bucket keeps one token ready, and the fleet starts at most two
// more than the hosts at once (CheckRate allows one more than it is told).
func TestFleetRates_BurstNoLargerThanTheHosts(t *testing.T) {
	t.Parallel()
	hostsAtOneRate(t, 2, 1, 3)
}

// One host with an unset burst (1) gets the whole rate, however short the
// bucket: it starts at most three at once, the token in its hand, the one
// ready and the one on its way (CheckRate allows one more than it is told).
func TestFleetRates_OneHostUnsetBurst(t *testing.T) {
	t.Parallel()
	hostsAtOneRate(t, 1, 0, 2)
}

// hostsAtOneRate runs 160 jobs of a queue limited to 20/s with burst on
// hosts hosts, and checks that their starts kept the rate with at most
// atOnce at once, every host running some.
func hostsAtOneRate(t *testing.T, hosts, burst, atOnce int) {
	t.Helper()
	needNode(t)
	rate := worker.Rate{Count: 20, Per: time.Second}
	queues := func() map[string]worker.QueueConfig {
		cfg := worker.DefaultQueueConfig()
		cfg.Concurrency, cfg.Rate, cfg.Burst = 8, rate, burst
		return map[string]worker.QueueConfig{"q": cfg}
	}
	prefix := randomPrefix()
	log := &startTimes{byHost: map[string]int{}}
	var opened []*Queue
	for _, name := range []string{"a", "b", "c"}[:hosts] {
		q := openQueueWith(t, node.URL(""), Options{URLs: []string{node.URL("")}, Prefix: prefix, Queues: queues, Log: testLog(t),
			RecordsFile: filepath.Join(t.TempDir(), "records.db")})
		opened = append(opened, q)
		runPool(t, q, worker.Kinds{"t": startedKind{name, log}}, queues, worker.RunOptions{})
	}
	waitBucketFilled(t, prefix+".rate.q", worker.BurstOf(queues()["q"]), hosts)
	const n = 160
	var ids []string
	for range n {
		j := &worker.JobRecord{Queue: "q", Type: "t", Payload: json.RawMessage(`{}`)}
		if _, err := opened[0].Submit(context.Background(), j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		j, err := opened[0].WaitFinished(ctx, id)
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
	// The slack bounds how far below the rate the fleet may fall: a
	// start waits on the broker's round trips, which a loaded machine
	// (two cores, the race detector, other suites) stretches. Above the
	// rate there is no slack.
	if err := queuetest.CheckRate(log.at, rate, atOnce, 0.25); err != nil {
		t.Fatal(err)
	}
	if len(log.byHost) != hosts {
		t.Fatalf("jobs started per host %v: want all %d to run some", log.byHost, hosts)
	}
	t.Logf("%d jobs at %s burst %d on %d hosts: %v, from %s to %s", n, rate, burst, hosts, log.byHost,
		log.at[0].Format("15:04:05.000"), log.at[len(log.at)-1].Format("15:04:05.000"))
}

// waitBucketFilled waits until every host consumes bucket and it holds
// all the tokens an idle spell leaves, so that the jobs meet the whole
// burst at once.
func waitBucketFilled(t *testing.T, bucket string, burst, hosts int) {
	t.Helper()
	conn, err := amqp.Dial(node.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tick := time.NewTicker(20 * time.Millisecond) // polling the broker
	defer tick.Stop()
	for deadline := time.Now().Add(30 * time.Second); ; <-tick.C {
		// A passive declare of a queue not there yet closes its channel.
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		st, err := ch.QueueDeclarePassive(bucket, true, false, false, false, nil)
		ch.Close()
		if err == nil && st.Consumers == hosts && st.Messages >= bucketSize(burst, hosts) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucket %s not filled within 30s: %+v, %v", bucket, st, err)
		}
	}
}

func TestBucketSize(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ burst, consumers, want int }{
		{10, 0, 10}, {10, 2, 8}, {3, 2, 1}, {2, 2, 1}, {1, 2, 1}, {1, 0, 1},
	} {
		if got := bucketSize(c.burst, c.consumers); got != c.want {
			t.Errorf("bucketSize(burst %d, %d consumers) = %d, want %d", c.burst, c.consumers, got, c.want)
		}
	}
}
