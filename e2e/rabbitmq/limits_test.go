package rabbitmq

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/internal/rabbitnode"
	"kiln/worker/image/imageapi"
)

// slowQueue is a queue whose jobs cannot finish: a timeout shorter than
// any picture takes, so every attempt of an image job fails.
const slowQueue = `
[queues.poison]
concurrency = 1
max_attempts = 3
backoff_base = "10ms"
backoff_max = "20ms"
timeout = "1ms"

[pipelines.poison]
queue = "poison"
output_dir = "poison-out"

[[pipelines.poison.variants]]
name = "small"
width = 60

[queues.small]
concurrency = 1
max_queued = 5

[pipelines.tiny]
queue = "small"
output_dir = "tiny-out"

[[pipelines.tiny.variants]]
name = "small"
width = 60
`

// A job that fails every attempt is dead after max_attempts, the daemon
// lives on, the job is listed as dead, and retry brings it back.
func TestPoisonJob(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	h := startHost(t, "a", pics, hostConfig{urls: []string{brokerURL(node, "")}, prefix: uniquePrefix(t), extra: slowQueue})
	pid := h.pid()
	ctx := context.Background()
	sub, err := h.client().Submit(ctx, imageapi.Request("poison", filepath.Join(pics, "p.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the poison job dead", func() (string, bool) {
		j, err := h.client().Job(ctx, sub.ID, 0)
		if err != nil {
			return err.Error(), false
		}
		return fmt.Sprintf("%s after %d attempts", j.State, j.Attempts), j.State == "dead"
	})
	j, _ := h.client().Job(ctx, sub.ID, 0)
	if j.Attempts != 3 || len(j.Errors) != 3 {
		t.Errorf("dead after %d attempts with %d errors, want 3: %+v", j.Attempts, len(j.Errors), j.Errors)
	}
	if !h.alive() || h.pid() != pid {
		t.Fatal("kilnd did not survive the poison job")
	}
	out, err := h.kilnctl("jobs", "-state", "dead")
	if err != nil || !strings.Contains(out, sub.ID) {
		t.Errorf("jobs -state dead does not list %s: %v\n%s", sub.ID, err, out)
	}
	out, err = h.kilnctl("retry", sub.ID)
	if err != nil {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	waitFor(t, time.Minute, "the retried job dead again, with fresh attempts", func() (string, bool) {
		j, err := h.client().Job(ctx, sub.ID, 0)
		if err != nil {
			return err.Error(), false
		}
		return fmt.Sprintf("%s after %d attempts, %d errors", j.State, j.Attempts, len(j.Errors)), j.State == "dead" && len(j.Errors) == 6
	})
}

// A full queue refuses a submit with a 429 that names the queue, and
// nothing is dropped: every job taken runs.
func TestQueueFull(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	h := startHost(t, "a", pics, hostConfig{urls: []string{brokerURL(node, "")}, prefix: uniquePrefix(t), extra: slowQueue})
	if out, err := h.kilnctl("pause", "small"); err != nil {
		t.Fatalf("pause: %v\n%s", err, out)
	}
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		sub, err := h.client().Submit(ctx, imageapi.Request("tiny", filepath.Join(pics, "p.jpg")))
		if err != nil {
			t.Fatalf("submit %d of 5: %v", i+1, err)
		}
		ids = append(ids, sub.ID)
	}
	_, err := h.client().Submit(ctx, imageapi.Request("tiny", filepath.Join(pics, "p.jpg")))
	if err == nil || !strings.Contains(err.Error(), "queue small") || !strings.Contains(err.Error(), "queue full") {
		t.Fatalf("sixth submit to a queue with max_queued 5: %v, want queue full naming the queue", err)
	}
	out, _ := h.kilnctl("submit", "-pipeline", "tiny", filepath.Join(pics, "p.jpg"))
	if !strings.Contains(out, "queue small") {
		t.Errorf("kilnctl submit to the full queue says %q", out)
	}
	if out, err := h.kilnctl("resume", "small"); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	for _, id := range ids {
		waitFor(t, time.Minute, "job "+id+" succeeded", func() (string, bool) {
			j, err := h.client().Job(ctx, id, 0)
			if err != nil {
				return err.Error(), false
			}
			return string(j.State), j.State == "succeeded"
		})
	}
}
