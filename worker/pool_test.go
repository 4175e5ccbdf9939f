package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kiln/worker"
	"kiln/worker/queue/local"
)

// handlerFunc adapts a function to worker.Handler.
type handlerFunc func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error)

func (f handlerFunc) Handle(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
	return f(ctx, j)
}

// kindOf makes a handler the kind of jobs of type "t".
type kindOf struct{ worker.Handler }

func (kindOf) Type() string                          { return "t" }
func (kindOf) Admit(json.RawMessage) (string, error) { return "", nil }

type poolBundle struct {
	store  *local.Store
	pool   *worker.Pool
	queues atomic.Pointer[map[string]worker.QueueConfig]
	cancel context.CancelFunc
	done   chan error
}

// reconfigure swaps in new queue settings, as a reload does.
func (b *poolBundle) reconfigure(queues map[string]worker.QueueConfig) {
	b.queues.Store(&queues)
	b.pool.ConfigChanged()
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// setupPool runs a pool over a real on-disk store, with handler h for jobs
// of type "t".
func setupPool(t *testing.T, h worker.Handler, queues map[string]worker.QueueConfig, opts worker.RunOptions) *poolBundle {
	t.Helper()
	store, err := local.Open(filepath.Join(t.TempDir(), "queue.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &poolBundle{store: store, cancel: cancel, done: make(chan error, 1)}
	b.queues.Store(&queues)
	b.pool = worker.NewPool(store, worker.Kinds{"t": kindOf{h}}, func() map[string]worker.QueueConfig { return *b.queues.Load() }, quietLog())
	go func() { b.done <- b.pool.Run(ctx, opts) }()
	t.Cleanup(func() {
		b.stop()
		store.Close()
	})
	return b
}

func (b *poolBundle) stop() error {
	b.cancel()
	err, ok := <-b.done
	if ok {
		close(b.done)
	}
	return err
}

func (b *poolBundle) submit(t *testing.T, queue string, maxAttempts int) *worker.JobRecord {
	t.Helper()
	j := &worker.JobRecord{Queue: queue, Type: "t", Payload: json.RawMessage(`{}`), MaxAttempts: maxAttempts}
	if _, err := b.store.Submit(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// waitFinished blocks until the job is in a terminal state.
func waitFinished(t *testing.T, q worker.Queue, id string) *worker.JobRecord {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		changed := q.Changed()
		j, err := q.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() {
			return j
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("job %s still %s", id, j.State)
		}
	}
}

var fast = worker.QueueConfig{Concurrency: 2, MaxAttempts: 3, BackoffBase: worker.Duration(time.Millisecond), BackoffMax: worker.Duration(2 * time.Millisecond)}

func TestPoolRetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	b := setupPool(t, handlerFunc(func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
		if calls.Add(1) < 3 {
			return nil, errors.New("transient")
		}
		return json.RawMessage(`"done"`), nil
	}), map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{})
	j := waitFinished(t, b.store, b.submit(t, "q", 3).ID)
	if j.State != worker.StateSucceeded || j.Attempts != 3 || string(j.Result) != `"done"` {
		t.Fatalf("job = state %s attempts %d result %s", j.State, j.Attempts, j.Result)
	}
}

func TestPoolDeadAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	b := setupPool(t, handlerFunc(func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
		return nil, errors.New("always broken")
	}), map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{})
	j := waitFinished(t, b.store, b.submit(t, "q", 3).ID)
	if j.State != worker.StateDead || j.Attempts != 3 || j.LastError != "always broken" {
		t.Fatalf("job = state %s attempts %d error %q", j.State, j.Attempts, j.LastError)
	}
}

func TestPoolPermanentErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	b := setupPool(t, handlerFunc(func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
		return nil, worker.Permanent(errors.New("cannot decode"))
	}), map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{})
	j := waitFinished(t, b.store, b.submit(t, "q", 5).ID)
	if j.State != worker.StateDead || j.Attempts != 1 || j.LastError != "cannot decode" {
		t.Fatalf("job = state %s attempts %d error %q", j.State, j.Attempts, j.LastError)
	}
}

func TestPoolSurvivesPanickingHandler(t *testing.T) {
	t.Parallel()
	b := setupPool(t, handlerFunc(func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
		panic("handler bug")
	}), map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{})
	j := waitFinished(t, b.store, b.submit(t, "q", 2).ID)
	if j.State != worker.StateDead || !strings.Contains(j.LastError, "handler bug") {
		t.Fatalf("job = state %s error %q", j.State, j.LastError)
	}
}

func TestPoolTimesOutAnAttempt(t *testing.T) {
	t.Parallel()
	cfg := fast
	cfg.Timeout = worker.Duration(20 * time.Millisecond)
	b := setupPool(t, handlerFunc(func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}), map[string]worker.QueueConfig{"q": cfg}, worker.RunOptions{})
	j := waitFinished(t, b.store, b.submit(t, "q", 2).ID)
	if j.State != worker.StateDead || j.Attempts != 2 || !strings.Contains(j.LastError, "timed out after 20ms") {
		t.Fatalf("job = state %s attempts %d error %q", j.State, j.Attempts, j.LastError)
	}
}

// gate is a handler that holds every job until released, and records how
// many ran at once.
type gate struct {
	started chan string
	release chan struct{}
	active  atomic.Int32
	peak    atomic.Int32
}

func newGate() *gate {
	return &gate{started: make(chan string, 100), release: make(chan struct{})}
}

func (g *gate) Handle(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
	n := g.active.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	g.started <- j.Queue
	defer g.active.Add(-1)
	select {
	case <-g.release:
		return json.RawMessage(`{}`), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// waitStarted waits for a job to enter the gate, failing the test if none
// does.
func (g *gate) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(20 * time.Second):
		t.Fatal("no job started")
	}
}

func TestPoolRespectsConcurrency(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setupPool(t, g, map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{})
	var jobs []*worker.JobRecord
	for i := 0; i < 6; i++ {
		jobs = append(jobs, b.submit(t, "q", 1))
	}
	for i := 0; i < 6; i++ {
		<-g.started
		g.release <- struct{}{}
	}
	for _, j := range jobs {
		if got := waitFinished(t, b.store, j.ID); got.State != worker.StateSucceeded {
			t.Fatalf("job %s %s", got.ID, got.State)
		}
	}
	if p := g.peak.Load(); p != 2 {
		t.Fatalf("peak concurrency %d, want 2", p)
	}
}

// A queue whose workers are all busy must not hold up another queue.
func TestPoolQueuesAreBulkheads(t *testing.T) {
	t.Parallel()
	g := newGate()
	one := fast
	one.Concurrency = 1
	var other atomic.Int32
	b := setupPool(t, handlerFunc(func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
		if j.Queue == "slow" {
			return g.Handle(ctx, j)
		}
		other.Add(1)
		return json.RawMessage(`{}`), nil
	}), map[string]worker.QueueConfig{"slow": one, "fast": one}, worker.RunOptions{})
	for i := 0; i < 3; i++ {
		b.submit(t, "slow", 1)
	}
	<-g.started // the slow queue's only worker is now stuck
	fastJob := b.submit(t, "fast", 1)
	if got := waitFinished(t, b.store, fastJob.ID); got.State != worker.StateSucceeded {
		t.Fatalf("fast job %s while slow queue is blocked", got.State)
	}
	close(g.release)
}

func TestPoolDrainLetsRunningJobsFinish(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setupPool(t, g, map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{Drain: func() time.Duration { return time.Minute }})
	j := b.submit(t, "q", 1)
	<-g.started
	stopped := make(chan error, 1)
	go func() { stopped <- b.stop() }()
	g.release <- struct{}{} // the job finishes during the drain
	if err := <-stopped; err != nil {
		t.Fatalf("drain: %v", err)
	}
	got, _ := b.store.Get(context.Background(), j.ID)
	if got.State != worker.StateSucceeded {
		t.Fatalf("job %s after drain, want succeeded", got.State)
	}
}

func TestPoolDrainTimeoutReleasesJobs(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setupPool(t, g, map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{Drain: func() time.Duration { return 10 * time.Millisecond }})
	j := b.submit(t, "q", 3)
	<-g.started
	if err := b.stop(); err != nil {
		t.Fatalf("drain: %v", err)
	}
	got, _ := b.store.Get(context.Background(), j.ID)
	if got.State != worker.StateQueued || got.Attempts != 0 {
		t.Fatalf("job after drain timeout: state %s attempts %d, want queued with 0", got.State, got.Attempts)
	}
}

func TestPoolHeartbeatComesFromTheLoop(t *testing.T) {
	t.Parallel()
	beats := make(chan struct{}, 100)
	var once sync.Once
	started := make(chan struct{})
	setupPool(t, handlerFunc(func(context.Context, *worker.JobRecord) (json.RawMessage, error) { return nil, nil }),
		map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{
			Heartbeat:      func() { beats <- struct{}{} },
			HeartbeatEvery: 5 * time.Millisecond,
			Started:        func() { once.Do(func() { close(started) }) },
		})
	<-started
	for i := 0; i < 3; i++ {
		select {
		case <-beats:
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat from the dispatch loop")
		}
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 10 * time.Second} {
		d := worker.Backoff(attempt, time.Second, 10*time.Second)
		if d < want/2 || d > want {
			t.Errorf("Backoff(%d) = %s, want within [%s, %s]", attempt, d, want/2, want)
		}
	}
}

// Cancelling a running job cancels its handler's context; the job ends
// cancelled, not dead or retried.
func TestPoolCancelsARunningJob(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setupPool(t, g, map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{})
	j := b.submit(t, "q", 3)
	<-g.started
	if _, err := b.store.Cancel(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	if !b.pool.Cancel(j.ID) {
		t.Fatal("pool did not know the running job")
	}
	got := waitFinished(t, b.store, j.ID)
	if got.State != worker.StateCancelled || got.Attempts != 1 {
		t.Fatalf("cancelled running job: state %s attempts %d error %q", got.State, got.Attempts, got.LastError)
	}
}

// A job's own timeout overrides its queue's.
func TestPoolJobTimeoutOverridesQueue(t *testing.T) {
	t.Parallel()
	b := setupPool(t, handlerFunc(func(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}), map[string]worker.QueueConfig{"q": fast}, worker.RunOptions{})
	j := &worker.JobRecord{Queue: "q", Type: "t", Payload: json.RawMessage(`{}`), MaxAttempts: 1, Timeout: worker.Duration(15 * time.Millisecond)}
	if _, err := b.store.Submit(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	got := waitFinished(t, b.store, j.ID)
	if got.State != worker.StateDead || !strings.Contains(got.LastError, "timed out after 15ms") {
		t.Fatalf("job: %s %q", got.State, got.LastError)
	}
}

// A reload that raises a queue's concurrency starts more jobs at once and
// leaves the running ones alone.
func TestPoolReconfigureKeepsRunningJobs(t *testing.T) {
	t.Parallel()
	g := newGate()
	one := fast
	one.Concurrency = 1
	b := setupPool(t, g, map[string]worker.QueueConfig{"q": one}, worker.RunOptions{})
	var jobs []*worker.JobRecord
	for i := 0; i < 3; i++ {
		jobs = append(jobs, b.submit(t, "q", 1))
	}
	g.waitStarted(t) // one runs; the limit holds the others
	three := fast
	three.Concurrency = 3
	b.reconfigure(map[string]worker.QueueConfig{"q": three})
	g.waitStarted(t)
	g.waitStarted(t) // all three run at once now, the first one untouched
	if n := g.active.Load(); n != 3 {
		t.Fatalf("%d jobs running after raising concurrency to 3", n)
	}
	close(g.release)
	for _, j := range jobs {
		if got := waitFinished(t, b.store, j.ID); got.State != worker.StateSucceeded || got.Attempts != 1 {
			t.Fatalf("job %s: %s after %d attempts", got.ID, got.State, got.Attempts)
		}
	}
}
