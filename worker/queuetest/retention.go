package queuetest

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

// Retention: worker.EnforceRetention deletes finished jobs past their keep
// time through the backend's Purge, counts them and logs each deletion;
// nothing else is touched.

func testRetention(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	const short, long = 10 * time.Millisecond, time.Hour

	// Queue "a" keeps succeeded jobs briefly and dead ones long; queue "b"
	// the other way round; queue "c" has no policy and keeps everything.
	var purged, kept []*worker.JobRecord
	var lastFinish time.Time
	finish := func(queue string, asDead bool) *worker.JobRecord {
		j := job(queue)
		submit(t, q, j)
		leaseOne(t, q, queue, j)
		if asDead {
			fail(t, q, j.ID, time.Time{})
		} else {
			complete(t, q, j.ID)
		}
		got := get(t, q, j.ID)
		if got.FinishedAt.IsZero() {
			t.Fatalf("finished job %s (%s) has no finish time", j.ID, got.State)
		}
		if got.FinishedAt.After(lastFinish) {
			lastFinish = got.FinishedAt
		}
		return j
	}
	purged = append(purged, finish("a", false), finish("b", true))
	kept = append(kept, finish("a", true), finish("b", false), finish("c", false), finish("c", true))

	// Unfinished jobs of a queue with a short keep time stay whatever
	// their age.
	queuedJob, scheduledJob, runningJob, retryingJob := job("a"), job("a"), job("a"), job("a")
	scheduledJob.RunAt = time.Now().Add(time.Hour)
	submit(t, q, runningJob)
	leaseOne(t, q, "a", runningJob)
	submit(t, q, retryingJob)
	leaseOne(t, q, "a", retryingJob)
	fail(t, q, retryingJob.ID, time.Now().Add(time.Hour))
	submit(t, q, queuedJob, scheduledJob)
	kept = append(kept, queuedJob, scheduledJob, runningJob, retryingJob)

	// The age of finished jobs is what is tested: let the short keep time
	// pass for every one of them.
	time.Sleep(time.Until(lastFinish.Add(short + time.Millisecond)))

	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	n := worker.EnforceRetention(ctx, q, map[string]worker.QueueConfig{
		"a": {KeepSucceeded: worker.Duration(short), KeepDead: worker.Duration(long)},
		"b": {KeepSucceeded: worker.Duration(long), KeepDead: worker.Duration(short)},
	}, log)
	if n != len(purged) {
		t.Errorf("EnforceRetention deleted %d jobs, want %d", n, len(purged))
	}
	for _, j := range purged {
		if _, err := q.Get(ctx, j.ID); !errors.Is(err, worker.ErrNotFound) {
			t.Errorf("job %s of queue %s is past its keep time, yet Get answers %v, not ErrNotFound", j.ID, j.Queue, err)
		}
	}
	for _, j := range kept {
		if _, err := q.Get(ctx, j.ID); err != nil {
			t.Errorf("job %s of queue %s was deleted: %v", j.ID, j.Queue, err)
		}
	}

	// One line per queue and state that lost jobs, naming both and the
	// count; nothing for the ones that lost none.
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(logBuf.String()), "\n") {
		if strings.Contains(l, "retention") {
			lines = append(lines, l)
		}
	}
	for _, want := range [][]string{
		{"queue=a", "state=" + string(worker.StateSucceeded), "jobs=1"},
		{"queue=b", "state=" + string(worker.StateDead), "jobs=1"},
	} {
		found := false
		for _, l := range lines {
			if containsAll(l, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no retention log line with %v in:\n%s", want, logBuf.String())
		}
	}
	if len(lines) != 2 {
		t.Errorf("%d retention log lines, want 2 (one per queue and state that lost jobs):\n%s", len(lines), logBuf.String())
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
