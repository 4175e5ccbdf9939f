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
	prefix := uniquePrefix(t)
	h := startHost(t, "a", pics, hostConfig{urls: []string{brokerURL(node, "")}, prefix: prefix, extra: slowQueue})
	deadQueue := prefix + ".dead.poison"
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
	if n := messagesIn(t, node, deadQueue); n != 1 {
		t.Errorf("%s holds %d messages with one dead job, want 1", deadQueue, n)
	}
	out, err = h.kilnctl("retry", sub.ID)
	if err != nil {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	if n := messagesIn(t, node, deadQueue); n != 0 {
		t.Errorf("%s holds %d messages after the retry, want 0", deadQueue, n)
	}
	waitFor(t, time.Minute, "the retried job dead again, with fresh attempts", func() (string, bool) {
		j, err := h.client().Job(ctx, sub.ID, 0)
		if err != nil {
			return err.Error(), false
		}
		return fmt.Sprintf("%s after %d attempts, %d errors", j.State, j.Attempts, len(j.Errors)), j.State == "dead" && len(j.Errors) == 6
	})
	out, err = h.kilnctl("purge", "-dead")
	if err != nil {
		t.Fatalf("purge -dead: %v\n%s", err, out)
	}
	if n := messagesIn(t, node, deadQueue); n != 0 {
		t.Errorf("%s holds %d messages after purge -dead, want 0", deadQueue, n)
	}
	if _, err := h.client().Job(ctx, sub.ID, 0); err == nil {
		t.Errorf("job %s still shown after purge -dead", sub.ID)
	}
	// The event log is the broker's records stream: the job's whole life
	// is in it, whichever host read it.
	out, err = h.kilnctl("events", "-job", sub.ID, "-json")
	if err != nil {
		t.Fatalf("kilnctl events -job %s: %v\n%s", sub.ID, err, out)
	}
	if n := strings.Count(out, `"state":"dead"`); n != 2 {
		t.Errorf("kilnctl events -job %s shows the job dead %d times, want 2 (before and after its retry):\n%s", sub.ID, n, out)
	}
}

// messagesIn is how many messages a queue on node holds.
func messagesIn(t *testing.T, node *rabbitnode.Node, queue string) int {
	t.Helper()
	st, err := rabbitnode.ChannelT(t, node).QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st.Messages
}

// A full queue refuses a submit with a 429 that names the queue, and
// nothing is dropped: every job taken runs.
func TestQueueFull(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	prefix := uniquePrefix(t)
	h := startHost(t, "a", pics, hostConfig{urls: []string{brokerURL(node, "")}, prefix: prefix, extra: slowQueue})
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
