package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kiln/api"
	"kiln/worker"
)

func submitJSON(t *testing.T, e *env, args ...string) (*api.Submitted, result) {
	t.Helper()
	r := e.kilnctl(t, append([]string{"submit", "-json"}, args...)...)
	jobs := decodeJSONLines[api.Submitted](t, r.stdout)
	if len(jobs) != 1 {
		return nil, r
	}
	return &jobs[0], r
}

// The queue operations an operator reaches for, through kilnctl and a real
// kilnd: pause and resume, cancel, unique keys, delays, backpressure, dead
// letters retried and purged.
func TestQueueOperationsThroughKilnctl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, e.configText("", "\n[queues.limited]\nconcurrency = 1\nmax_queued = 2\n"))
	e.start(t)

	if r := e.kilnctl(t, "pause", "images"); r.code != 0 {
		t.Fatalf("pause: %q", r.stderr)
	}
	if r := e.kilnctl(t, "status"); !strings.Contains(r.stdout, "images (paused)") {
		t.Fatalf("status does not show the pause:\n%s", r.stdout)
	}
	var queued []*api.Submitted
	for i := 0; i < 3; i++ {
		j, r := submitJSON(t, e, "-type", "noop", "-queue", "images", "-priority", "5")
		if j == nil || j.State != worker.StateQueued || j.Priority != 5 {
			t.Fatalf("submit noop: %+v %q", j, r.stderr)
		}
		queued = append(queued, j)
	}
	r := e.kilnctl(t, "jobs", "-queue", "images", "-state", "queued", "-json")
	if listed := decodeJSONLines[api.Job](t, r.stdout); len(listed) != 3 {
		t.Fatalf("jobs -state queued listed %d, want 3", len(listed))
	}

	if r := e.kilnctl(t, "cancel", queued[0].ID); r.code != 0 || !strings.Contains(r.stdout, "cancelled") {
		t.Fatalf("cancel: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := e.kilnctl(t, "cancel", queued[0].ID); r.code == 0 || !strings.Contains(r.stderr, "already cancelled") {
		t.Fatalf("second cancel: %d %q", r.code, r.stderr)
	}

	first, _ := submitJSON(t, e, "-type", "noop", "-queue", "images", "-unique-key", "upload-42")
	dup, _ := submitJSON(t, e, "-type", "noop", "-queue", "images", "-unique-key", "upload-42")
	if first == nil || dup == nil || dup.ID != first.ID || !dup.Duplicate {
		t.Fatalf("unique key: first %+v, second %+v", first, dup)
	}
	later, _ := submitJSON(t, e, "-type", "noop", "-queue", "images", "-in", "1h")
	if later == nil || later.State != worker.StateScheduled {
		t.Fatalf("submit -in 1h: %+v", later)
	}

	if r := e.kilnctl(t, "resume", "images"); r.code != 0 {
		t.Fatalf("resume: %q", r.stderr)
	}
	for _, id := range []string{queued[1].ID, queued[2].ID, first.ID} {
		if j := e.finished(t, id); j.State != worker.StateSucceeded {
			t.Fatalf("job %s after resume: %s", id, j.State)
		}
	}

	// Backpressure: a full queue refuses, and says so.
	e.kilnctl(t, "pause", "limited")
	for i := 0; i < 2; i++ {
		if j, r := submitJSON(t, e, "-type", "noop", "-queue", "limited"); j == nil {
			t.Fatalf("submit %d to limited: %q", i, r.stderr)
		}
	}
	if _, r := submitJSON(t, e, "-type", "noop", "-queue", "limited"); r.code == 0 || !strings.Contains(r.stderr, "queue full") {
		t.Fatalf("submit over max_queued: %d %q", r.code, r.stderr)
	}

	// Dead letters: retried on request, then purged.
	bad := filepath.Join(e.pics, "bad.jpg")
	os.WriteFile(bad, []byte{0xff, 0xd8, 0xff, 0, 1, 2}, 0o644)
	dead, _ := submitJSON(t, e, "-pipeline", "web", bad)
	if j := e.finished(t, dead.ID); j.State != worker.StateDead {
		t.Fatalf("broken picture ended %s", j.State)
	}
	if r := e.kilnctl(t, "retry", "-dead", "-json"); !strings.Contains(r.stdout, `"count":1`) {
		t.Fatalf("retry -dead: %q %q", r.stdout, r.stderr)
	}
	j := e.finished(t, dead.ID)
	if j.State != worker.StateDead || len(j.Errors) != 2 {
		t.Fatalf("retried broken picture: %s with %d errors, want dead with 2", j.State, len(j.Errors))
	}
	if r := e.kilnctl(t, "job", dead.ID); strings.Count(r.stdout, "error     attempt") != 2 {
		t.Fatalf("kilnctl job does not show both attempts' errors:\n%s", r.stdout)
	}
	if r := e.kilnctl(t, "purge", "-dead", "-json"); !strings.Contains(r.stdout, `"count":1`) {
		t.Fatalf("purge -dead: %q %q", r.stdout, r.stderr)
	}
	r = e.kilnctl(t, "job", "-json", dead.ID)
	if r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("purged job still shown: %q", r.stdout)
	}

	var st api.Status
	r = e.kilnctl(t, "status", "-json")
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	images := st.Queues["images"]
	if images.Counts[worker.StateCancelled] != 1 || images.Counts[worker.StateScheduled] != 1 || images.Paused {
		t.Fatalf("images status %+v", images)
	}
	if limited := st.Queues["limited"]; limited.Counts[worker.StateQueued] != 2 || !limited.Paused {
		t.Fatalf("limited status %+v", limited)
	}
}
