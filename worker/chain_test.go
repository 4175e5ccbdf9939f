package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kiln/worker"
	"kiln/worker/queue/local"
)

// stepKind is a kind of its own type whose jobs fail until their attempt
// reaches okOn (never, when okOn is 0), to follow a step of a chain.
type stepKind struct {
	typ   string
	okOn  int
	queue string // what Admit names
	runs  atomic.Int32
}

func (k *stepKind) Type() string                          { return k.typ }
func (k *stepKind) Admit(json.RawMessage) (string, error) { return k.queue, nil }
func (k *stepKind) Handle(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
	k.runs.Add(1)
	if k.okOn == 0 || j.Attempts < k.okOn {
		return nil, errors.New("step failed")
	}
	return json.RawMessage(`{"step":"done"}`), nil
}

// plainQueue is a store seen through worker.Queue and worker.ChainStore
// only: the pool's path for a backend that stores each success alone.
type plainQueue struct {
	worker.Queue
	worker.ChainStore
}

// unchainedQueue is a store seen through worker.Queue only: a backend that
// cannot store follow-ups.
type unchainedQueue struct{ worker.Queue }

// chainPool runs a pool over a real store with noop and kinds, on queues
// "q" and worker.DefaultQueue; wrap chooses how the pool sees the store.
func chainPool(t *testing.T, wrap func(*local.Store) worker.Queue, kinds ...worker.Kind) *local.Store {
	t.Helper()
	store, err := local.Open(filepath.Join(t.TempDir(), "queue.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	all, err := worker.NewKinds(append(kinds, worker.Noop{})...)
	if err != nil {
		t.Fatal(err)
	}
	queues := map[string]worker.QueueConfig{"q": fast, worker.DefaultQueue: fast}
	pool := worker.NewPool(wrap(store), all, func() map[string]worker.QueueConfig { return queues }, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx, worker.RunOptions{}) }()
	t.Cleanup(func() {
		cancel()
		<-done
		store.Close()
	})
	return store
}

func submitNoop(t *testing.T, q worker.Queue, queue, payload string) *worker.JobRecord {
	t.Helper()
	j := &worker.JobRecord{Queue: queue, Type: worker.NoopType, Payload: json.RawMessage(payload), MaxAttempts: 3}
	if _, err := (worker.Noop{}).Admit(j.Payload); err != nil {
		t.Fatalf("noop refuses %s: %v", payload, err)
	}
	if _, err := q.Submit(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// A noop chain of three steps runs step after step, each a job of its own
// whose parent is the step before, on the batch path and the plain one.
func TestChainOfNoops(t *testing.T) {
	t.Parallel()
	for name, wrap := range map[string]func(*local.Store) worker.Queue{
		"batched": func(s *local.Store) worker.Queue { return s },
		"plain":   func(s *local.Store) worker.Queue { return plainQueue{s, s} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := chainPool(t, wrap)
			first := submitNoop(t, store, "q", `{"then":["noop","noop"],"tag":"x"}`)
			ids := []string{first.ID, first.ID + "-1", first.ID + "-1-1"}
			payloads := []string{`{"then":["noop","noop"],"tag":"x"}`, `{"tag":"x","then":["noop"]}`, `{"tag":"x"}`}
			for i, id := range ids {
				j := waitFinished(t, store, waitStored(t, store, id))
				if j.State != worker.StateSucceeded || j.Attempts != 1 {
					t.Fatalf("step %d (%s): %s after %d attempts", i+1, id, j.State, j.Attempts)
				}
				if string(j.Payload) != payloads[i] {
					t.Fatalf("step %d payload %s, want %s", i+1, j.Payload, payloads[i])
				}
				wantParent, wantChildren := "", []string(nil)
				if i > 0 {
					wantParent = ids[i-1]
				}
				if i < 2 {
					wantChildren = []string{ids[i+1]}
				}
				if j.Parent != wantParent || !slices.Equal(j.Children, wantChildren) {
					t.Fatalf("step %d: parent %q children %v, want %q %v", i+1, j.Parent, j.Children, wantParent, wantChildren)
				}
			}
			all, err := store.List(context.Background(), "", "", 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 3 {
				t.Fatalf("the store holds %d jobs, want the three steps", len(all))
			}
		})
	}
}

// waitStored waits for a job the pool is to store, and returns its ID.
func waitStored(t *testing.T, q worker.Queue, id string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		changed := q.Changed()
		if _, err := q.Get(context.Background(), id); err == nil {
			return id
		} else if !errors.Is(err, worker.ErrNotFound) {
			t.Fatal(err)
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("job %s never stored", id)
		}
	}
}

// A step retries and dies on its own: its parent stays succeeded.
func TestChainStepsRetryAndDieAlone(t *testing.T) {
	t.Parallel()
	flaky := &stepKind{typ: "flaky", okOn: 2}
	broken := &stepKind{typ: "broken", queue: worker.DefaultQueue}
	store := chainPool(t, func(s *local.Store) worker.Queue { return s }, flaky, broken)
	a := submitNoop(t, store, "q", `{"then":["flaky"]}`)
	b := submitNoop(t, store, "q", `{"then":["broken"]}`)

	step := waitFinished(t, store, waitStored(t, store, a.ID+"-1"))
	if step.State != worker.StateSucceeded || step.Attempts != 2 || step.Queue != "q" {
		t.Fatalf("flaky step: %s after %d attempts in %s; want succeeded on attempt 2 in its parent's queue", step.State, step.Attempts, step.Queue)
	}
	dead := waitFinished(t, store, waitStored(t, store, b.ID+"-1"))
	if dead.State != worker.StateDead || dead.Attempts != fast.MaxAttempts || dead.Queue != "q" {
		t.Fatalf("broken step: %s after %d attempts in %s; want dead after %d in the queue noop names, its own", dead.State, dead.Attempts, dead.Queue, fast.MaxAttempts)
	}
	for _, id := range []string{a.ID, b.ID} {
		if p := waitFinished(t, store, id); p.State != worker.StateSucceeded || p.Attempts != 1 {
			t.Fatalf("parent %s: %s after %d attempts; a step's failures are its own", id, p.State, p.Attempts)
		}
	}
}

// A follow-up that cannot be made fails its parent for good, naming it,
// and nothing is stored for it; so does any follow-up on a backend that
// cannot store one.
func TestChainRefusedFollowUpFailsParent(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		wrap    func(*local.Store) worker.Queue
		payload string
		want    string
	}{
		"unknown kind":   {func(s *local.Store) worker.Queue { return s }, `{"then":["nosuch"]}`, `no job kind "nosuch"`},
		"no chain store": {func(s *local.Store) worker.Queue { return unchainedQueue{s} }, `{"then":["noop"]}`, "cannot store follow-ups"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := chainPool(t, c.wrap)
			j := submitNoop(t, store, "q", c.payload)
			got := waitFinished(t, store, j.ID)
			if got.State != worker.StateDead || got.Attempts != 1 || !strings.Contains(got.LastError, c.want) {
				t.Fatalf("parent: %s after %d attempts, error %q; want dead at once with %q", got.State, got.Attempts, got.LastError, c.want)
			}
			if _, err := store.Get(context.Background(), worker.FollowUpID(j.ID, 1)); !errors.Is(err, worker.ErrNotFound) {
				t.Fatalf("follow-up of a refused chain: %v, want none stored", err)
			}
		})
	}
}

// FollowUpJobs makes jobs whose IDs derive from the parent's, in the queue
// the follow-up, then its kind, then the default names; a chain ends at
// MaxChainSteps.
func TestFollowUpJobs(t *testing.T) {
	t.Parallel()
	kinds, err := worker.NewKinds(worker.Noop{}, &stepKind{typ: "s", queue: "named"})
	if err != nil {
		t.Fatal(err)
	}
	queues := map[string]worker.QueueConfig{worker.DefaultQueue: {MaxAttempts: 4}, "named": {MaxAttempts: 2}, "own": {MaxAttempts: 7}}
	parent := &worker.JobRecord{ID: "01J0000000000000000000000A", Priority: 9}
	jobs, err := worker.FollowUpJobs(parent, json.RawMessage(`{"r":1}`), []worker.FollowUp{
		{Type: worker.NoopType}, {Type: "s"}, {Type: "s", Queue: "own", Payload: json.RawMessage(`{"p":2}`)},
	}, kinds, queues)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ id, queue, payload string }{
		{parent.ID + "-1", worker.DefaultQueue, `{"r":1}`}, {parent.ID + "-2", "named", `{"r":1}`}, {parent.ID + "-3", "own", `{"p":2}`},
	}
	for i, w := range want {
		j := jobs[i]
		if j.ID != w.id || j.Queue != w.queue || string(j.Payload) != w.payload || j.Parent != parent.ID || j.Priority != 9 || j.MaxAttempts != queues[w.queue].MaxAttempts {
			t.Fatalf("follow-up %d: %+v; want %+v with its queue's max_attempts", i+1, j, w)
		}
	}
	for name, c := range map[string]struct {
		f    worker.FollowUp
		want string
	}{
		"unknown queue":   {worker.FollowUp{Type: "s", Queue: "nosuch"}, `unknown queue "nosuch"`},
		"not JSON":        {worker.FollowUp{Type: "s", Payload: json.RawMessage(`{`)}, "not JSON"},
		"payload refused": {worker.FollowUp{Type: worker.NoopType, Payload: json.RawMessage(`{"sleep":"forever"}`)}, "payload.sleep"},
	} {
		if _, err := worker.FollowUpJobs(parent, nil, []worker.FollowUp{c.f}, kinds, queues); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	deep := &worker.JobRecord{ID: parent.ID + strings.Repeat("-1", worker.MaxChainSteps-1)}
	if _, err := worker.FollowUpJobs(deep, nil, []worker.FollowUp{{Type: worker.NoopType}}, kinds, queues); err == nil || !strings.Contains(err.Error(), "steps long") {
		t.Fatalf("a follow-up past %d steps: err = %v, want the chain refused", worker.MaxChainSteps, err)
	}
	if _, err := worker.FollowUpJobs(&worker.JobRecord{ID: "order-4711" + strings.Repeat("-1", worker.MaxChainSteps-3)}, nil, []worker.FollowUp{{Type: worker.NoopType}}, kinds, queues); err != nil {
		t.Fatalf("a follow-up within %d steps refused: %v", worker.MaxChainSteps, err)
	}
}

// noop's test aids are checked at submit.
func TestNoopAdmit(t *testing.T) {
	t.Parallel()
	for payload, want := range map[string]string{
		`{}`: "", `[1,2]`: "", `"then"`: "", `{"then":["noop"],"sleep":"5ms"}`: "",
		`{"then":"noop"}`: "list of job types", `{"then":[""]}`: "then[0]", `{"sleep":"2h"}`: "sleep", `{"sleep":"-1s"}`: "sleep",
	} {
		_, err := worker.Noop{}.Admit(json.RawMessage(payload))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("Admit(%s) = %v, want %q", payload, err, want)
		}
	}
}

// noop's "sleep" makes a step last, and ends with its context.
func TestNoopSleep(t *testing.T) {
	t.Parallel()
	j := &worker.JobRecord{Payload: json.RawMessage(`{"sleep":"50ms"}`)}
	start := time.Now()
	if _, err := (worker.Noop{}).Handle(context.Background(), j); err != nil || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("noop with sleep 50ms returned %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	j.Payload = json.RawMessage(`{"sleep":"1m"}`)
	if _, err := (worker.Noop{}).Handle(ctx, j); !errors.Is(err, context.Canceled) {
		t.Fatalf("noop sleeping with its context cancelled: %v", err)
	}
}
