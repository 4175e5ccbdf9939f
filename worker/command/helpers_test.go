package command

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"kiln/worker"
	"kiln/worker/queue/local"
)

// script writes a shell script into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// processesInGroup lists the processes of group pgid that still run, read
// from /proc without the package's own helpers, so that a mistake there
// cannot hide here.
func processesInGroup(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
		if string(f[0]) != "Z" && string(f[2]) == strconv.Itoa(pgid) {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
	return string(f[0]) != "Z"
}

// lockedWriter collects log lines for tests to look at.
type lockedWriter struct {
	ch chan *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	b := <-w.ch
	defer func() { w.ch <- b }()
	return b.Write(p)
}

func (w lockedWriter) String() string {
	b := <-w.ch
	defer func() { w.ch <- b }()
	return b.String()
}

func newLog() (*slog.Logger, lockedWriter) {
	w := lockedWriter{ch: make(chan *bytes.Buffer, 1)}
	w.ch <- &bytes.Buffer{}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), w
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fastQueue retries at once.
var fastQueue = worker.QueueConfig{Concurrency: 2, MaxAttempts: 3, BackoffBase: worker.Duration(time.Millisecond), BackoffMax: worker.Duration(2 * time.Millisecond)}

// commandPool runs the jobs of one command, of type "cmd", in a pool over
// a real on-disk store.
type commandPool struct {
	queue worker.QueueConfig
	store *local.Store
	pool  *worker.Pool
	kind  *Kind
	temp  string // the runs' temporary directories go here
}

func runCommandPool(t testing.TB, cfg Config, queue worker.QueueConfig, log *slog.Logger) *commandPool {
	t.Helper()
	dir := t.TempDir()
	store, err := local.Open(filepath.Join(dir, "queue.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(temp, 0o700); err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = quietLog()
	}
	kind := NewKind("cmd", func() (Config, bool) { return cfg, true }, Options{DefaultQueue: "default", TempRoot: temp, Log: log})
	kinds, err := worker.NewKinds(kind)
	if err != nil {
		t.Fatal(err)
	}
	queues := map[string]worker.QueueConfig{"default": queue}
	pool := worker.NewPool(store, kinds, func() map[string]worker.QueueConfig { return queues }, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- pool.Run(ctx, worker.RunOptions{Drain: func() time.Duration { return 10 * time.Second }})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		store.Close()
	})
	return &commandPool{queue: queue, store: store, pool: pool, kind: kind, temp: temp}
}

func (p *commandPool) submit(t testing.TB, payload string) *worker.JobRecord {
	t.Helper()
	queue, err := p.kind.Admit(json.RawMessage(payload))
	if err != nil {
		t.Fatal(err)
	}
	// As the daemon does, the job gets its queue's max_attempts.
	j := &worker.JobRecord{Queue: queue, Type: "cmd", Payload: json.RawMessage(payload), MaxAttempts: p.queue.MaxAttempts}
	if _, err := p.store.Submit(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// finished waits for a job to reach a terminal state.
func (p *commandPool) finished(t testing.TB, id string) *worker.JobRecord {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		changed := p.store.Changed()
		j, err := p.store.Get(context.Background(), id)
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

// waitFile waits until path exists, as a script that writes it says it
// has got there.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not timing
	}
}
