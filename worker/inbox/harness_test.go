package inbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kiln/worker"
	"kiln/worker/image"
	"kiln/worker/image/render"
	"kiln/worker/inbox"
	"kiln/worker/queue/local"
)

// harness is an inbox on the real parts: a local store in a temp dir, the
// worker pool, and the image kind rendering in process with libvips. Its
// kind notes each job's ID beside its picture before it runs, as the
// image kind of kilnd does.
type harness struct {
	t      *testing.T
	inbox  string
	out    string
	store  *local.Store
	kind   *image.JobKind
	cfg    inbox.Config
	events bool // follow the event log (else poll the tickets)
	log    *syncBuffer

	cancel context.CancelFunc
	done   sync.WaitGroup
}

const queueName = "q"

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, inbox: filepath.Join(dir, "inbox"), out: filepath.Join(dir, "out"), events: true, log: &syncBuffer{}}
	h.cfg = inbox.Config{Pipeline: "web", Dir: h.inbox, Keep: true, Settle: 200 * time.Millisecond}
	store, err := local.Open(filepath.Join(dir, "queue.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h.store = store
	t.Cleanup(func() {
		h.stop()
		store.Close()
		if t.Failed() {
			t.Logf("log:\n%s", h.log.String())
		}
	})
	p := image.Pipeline{Queue: queueName, OutputDir: h.out, Variants: []image.Variant{{Name: "small", Width: 32, Format: "jpeg"}}}
	p.FillDefaults()
	images := image.DefaultImagesConfig()
	images.AllowedInputRoots = []string{inbox.ProcessingDir(h.inbox)}
	settings := image.Settings{Pipelines: map[string]image.Pipeline{"web": p}, Images: images}
	h.kind = image.NewKind(func() image.Settings { return settings }, render.InProcess{})
	if err := inbox.MakeDirs(h.inbox); err != nil {
		t.Fatal(err)
	}
	return h
}

// notingKind is the image kind with the inbox's note before each run.
type notingKind struct {
	*image.JobKind
	inbox string
}

func (k notingKind) Handle(ctx context.Context, j *worker.JobRecord) (json.RawMessage, error) {
	p, err := image.ParsePayload(j.Payload)
	if err != nil {
		return nil, worker.Permanent(err)
	}
	if err := inbox.NoteRunning(k.inbox, p.Input, j.ID); err != nil {
		return nil, err
	}
	return k.JobKind.Handle(ctx, j)
}

// submit is the daemon's submit in brief: the kind admits each job, a
// refusal is a field error, and the store takes all or none.
func (h *harness) submit(ctx context.Context, reqs []worker.JobRequest) error {
	jobs := make([]*worker.JobRecord, len(reqs))
	for i, r := range reqs {
		q, err := h.kind.Admit(r.Payload)
		if err != nil {
			var fe *worker.FieldError
			if errors.As(err, &fe) {
				return &worker.FieldError{Field: "payload." + fe.Field, Msg: fe.Msg}
			}
			return &worker.FieldError{Field: "payload", Msg: err.Error()}
		}
		jobs[i] = &worker.JobRecord{Type: r.Type, Queue: q, Payload: r.Payload, UniqueKey: r.UniqueKey, MaxAttempts: 2}
	}
	_, err := h.store.Submit(ctx, jobs...)
	return err
}

func (h *harness) jobs() *inbox.QueueJobs {
	j := &inbox.QueueJobs{
		SubmitJobs: h.submit, Queue: h.store, JobType: image.JobType,
		Payload: func(p inbox.Picture) (json.RawMessage, error) {
			return json.Marshal(image.Payload{Pipeline: p.Pipeline, Input: p.Input})
		},
	}
	if h.events {
		j.Events = h.store
	}
	return j
}

// startPool runs the worker pool alone.
func (h *harness) startPool(ctx context.Context) {
	kinds, err := worker.NewKinds(notingKind{h.kind, h.inbox})
	if err != nil {
		h.t.Fatal(err)
	}
	queues := map[string]worker.QueueConfig{queueName: {Concurrency: 2, MaxAttempts: 2, BackoffBase: worker.Duration(10 * time.Millisecond), BackoffMax: worker.Duration(10 * time.Millisecond)}}
	pool := worker.NewPool(h.store, kinds, func() map[string]worker.QueueConfig { return queues }, slog.New(slog.NewTextHandler(h.log, nil)))
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		pool.Run(ctx, worker.RunOptions{Drain: func() time.Duration { return 5 * time.Second }})
	}()
}

// start runs the pool and the inbox until stop.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.startPool(ctx)
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		inbox.Run(ctx, h.jobs(), []inbox.Config{h.cfg}, slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}()
}

func (h *harness) stop() {
	if h.cancel != nil {
		h.cancel()
		h.done.Wait()
		h.cancel = nil
	}
}

// waitFor polls cond until it holds, failing after a deadline.
func (h *harness) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not timing
	}
}

// names lists the file names in dir ("" for the inbox), sorted.
func (h *harness) names(sub string) []string {
	h.t.Helper()
	entries, err := os.ReadDir(filepath.Join(h.inbox, sub))
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out
}

func (h *harness) count(sub string) int { return len(h.names(sub)) }

// jobsByKey counts the store's jobs per unique key.
func (h *harness) jobsByKey() map[string]int {
	h.t.Helper()
	jobs, err := h.store.List(context.Background(), "", "", 1_000_000)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int{}
	for _, j := range jobs {
		out[j.UniqueKey]++
	}
	return out
}

// syncBuffer is a log that goroutines may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
