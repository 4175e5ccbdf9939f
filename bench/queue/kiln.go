package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"kiln/worker"
	"kiln/worker/queue/local"
)

// kilnSystem is kiln's local backend run in-process, exactly as kilnd runs
// it: the bbolt store with group commit, and the worker pool.
type kilnSystem struct {
	label string
	dir   string
	store *local.Store
	pool  *worker.Pool
	done  atomic.Int64
	doneC chan struct{}
	want  int64
	stop  context.CancelFunc
	ended chan error
}

type noop struct{ s *kilnSystem }

func (noop) Type() string                          { return "noop" }
func (noop) Admit(json.RawMessage) (string, error) { return "", nil }

func (n noop) Handle(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
	return nil, nil
}

// newKiln opens the store and starts the pool; with events false the
// store writes no events, for the figures that say what they cost.
func newKiln(label, dir string, concurrency int, events bool) (*kilnSystem, error) {
	store, err := local.Open(filepath.Join(dir, "queue.db"), nil)
	if err != nil {
		return nil, err
	}
	if !events {
		store.OmitEvents()
	}
	k := &kilnSystem{label: label, dir: dir, store: store}
	queues := map[string]worker.QueueConfig{"bench": {Concurrency: concurrency, MaxAttempts: 3}}
	k.pool = worker.NewPool(store, worker.Kinds{"noop": noop{k}}, func() map[string]worker.QueueConfig { return queues }, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError})))
	ctx, cancel := context.WithCancel(context.Background())
	k.stop = cancel
	k.ended = make(chan error, 1)
	started := make(chan struct{})
	go func() {
		k.ended <- k.pool.Run(ctx, worker.RunOptions{
			Started: func() { close(started) },
		})
	}()
	<-started
	return k, nil
}

func (k *kilnSystem) name() string { return k.label }

func (k *kilnSystem) submit(ctx context.Context, payload []byte) error {
	_, err := k.store.Submit(ctx, &worker.JobRecord{Queue: "bench", Type: "noop", Payload: payload, MaxAttempts: 3})
	return err
}

// waitDone waits until n jobs have succeeded, reading the store's counters.
func (k *kilnSystem) waitDone(ctx context.Context, n int) error {
	for {
		st, err := k.store.Stats(ctx)
		if err != nil {
			return err
		}
		if q := st["bench"]; q != nil && q.Counts[worker.StateSucceeded] >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (k *kilnSystem) close() error {
	k.stop()
	<-k.ended
	return k.store.Close()
}
