package worker_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"kiln/worker"
	"kiln/worker/queuetest"
)

// startLog is a handler that notes when each job started.
type startLog struct {
	mu     sync.Mutex
	starts []time.Time
}

func (s *startLog) Handle(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
	s.mu.Lock()
	s.starts = append(s.starts, time.Now())
	s.mu.Unlock()
	return json.RawMessage(`{}`), nil
}

func (s *startLog) times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.starts)
}

func TestPool_RateHoldsStartsAndShowsHeldBack(t *testing.T) {
	t.Parallel()
	rate := worker.Rate{Count: 20, Per: time.Second}
	cfg := fast
	cfg.Concurrency, cfg.Rate, cfg.Burst = 8, rate, 5
	log := &startLog{}
	b := setupPool(t, log, map[string]worker.QueueConfig{"q": cfg}, worker.RunOptions{})
	var jobs []*worker.JobRecord
	for range 45 {
		jobs = append(jobs, b.submit(t, "q", 1))
	}
	// While the rate holds them back, the jobs wait queued, and Stats
	// says why.
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Contains(b.pool.Stats().HeldByRate, "q") {
		if time.Now().After(deadline) {
			t.Fatal("Stats never named q as held back by its rate")
		}
		<-b.store.Changed()
	}
	st, err := b.store.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st["q"].Counts[worker.StateQueued] == 0 || st["q"].Counts[worker.StateDead] != 0 {
		t.Fatalf("held back by the rate: counts %v; want some queued and none dead", st["q"].Counts)
	}
	for _, j := range jobs {
		if got := waitFinished(t, b.store, j.ID); got.State != worker.StateSucceeded {
			t.Fatalf("job %s %s: %s", got.ID, got.State, got.LastError)
		}
	}
	if err := queuetest.CheckRate(log.times(), rate, 5, 0.5); err != nil {
		t.Fatal(err)
	}
	// The pool learns that nothing is left at its next token.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); len(b.pool.Stats().HeldByRate) != 0; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("with every job done, Stats says %v are held back", b.pool.Stats().HeldByRate)
		}
	}
}

func TestPool_RateChangeAppliesAtReload(t *testing.T) {
	t.Parallel()
	slow := fast
	slow.Rate, slow.Burst = worker.Rate{Count: 1, Per: time.Hour}, 1
	log := &startLog{}
	b := setupPool(t, log, map[string]worker.QueueConfig{"q": slow}, worker.RunOptions{})
	first, second := b.submit(t, "q", 1), b.submit(t, "q", 1)
	waitFinished(t, b.store, first.ID)
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Contains(b.pool.Stats().HeldByRate, "q") {
		if time.Now().After(deadline) {
			t.Fatal("the second job was not held back by 1/h")
		}
		<-b.store.Changed()
	}
	if j, _ := b.store.Get(context.Background(), second.ID); j.State != worker.StateQueued {
		t.Fatalf("at 1/h the second job is %s, want queued", j.State)
	}
	b.reconfigure(map[string]worker.QueueConfig{"q": fast})
	if got := waitFinished(t, b.store, second.ID); got.State != worker.StateSucceeded {
		t.Fatalf("after the rate was lifted: %s", got.State)
	}
}

func TestPool_MaxRunningCapsConcurrency(t *testing.T) {
	t.Parallel()
	g := newGate()
	cfg := fast
	cfg.Concurrency, cfg.MaxRunning = 4, 2
	b := setupPool(t, g, map[string]worker.QueueConfig{"q": cfg}, worker.RunOptions{})
	var jobs []*worker.JobRecord
	for range 6 {
		jobs = append(jobs, b.submit(t, "q", 1))
	}
	for range 3 {
		g.waitStarted(t)
		g.waitStarted(t)
		g.release <- struct{}{}
		g.release <- struct{}{}
	}
	for _, j := range jobs {
		waitFinished(t, b.store, j.ID)
	}
	if p := g.peak.Load(); p != 2 {
		t.Fatalf("peak running %d with concurrency 4 and max_running 2, want 2", p)
	}
}
