package queuetest

import (
	"testing"
	"time"

	"kiln/worker"
)

// Wake-ups: the pool sleeps until Ready() signals, and a client waiting for
// a job to finish sleeps until Changed() closes. A backend that misses one
// leaves jobs waiting until some unrelated event, so every wait here has a
// deadline and missing it fails the case.

// wakeWithin is how long a wake-up may take. It is generous because the
// suite runs on loaded machines; a backend that never wakes fails anyway.
const wakeWithin = 5 * time.Second

// drainReady takes a signal already pending on Ready(), so that the next
// one answers what the test does next. A backend that signals late could
// still pass on a stale signal; one that never signals cannot.
func drainReady(t *testing.T, q worker.Queue) {
	t.Helper()
	for range 1000 {
		select {
		case <-q.Ready():
		default:
			return
		}
	}
	t.Fatal("Ready() keeps signalling with nothing new to lease: a pool waiting on it would spin")
}

func awaitReady(t *testing.T, q worker.Queue, after string) {
	t.Helper()
	select {
	case <-q.Ready():
	case <-time.After(wakeWithin):
		t.Fatalf("no signal on Ready() within %s after %s", wakeWithin, after)
	}
}

// openChanged returns the channel Changed() gives now, which must be open:
// a channel closed while nothing changes would make every waiter spin. A
// close that arrives late, for an earlier change, is skipped by asking
// again.
func openChanged(t *testing.T, q worker.Queue) <-chan struct{} {
	t.Helper()
	for range 1000 {
		ch := q.Changed()
		select {
		case <-ch:
		default:
			return ch
		}
	}
	t.Fatal("Changed() gives a closed channel while nothing changes: a waiter on it would spin")
	return nil
}

func awaitChanged(t *testing.T, ch <-chan struct{}, after string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wakeWithin):
		t.Fatalf("Changed() channel still open %s after %s", wakeWithin, after)
	}
}

// wakeCase is one event that must wake a waiter: prepare brings a job to
// where act applies, act is the event.
type wakeCase struct {
	name    string
	prepare func(t *testing.T, q worker.Queue) *worker.JobRecord
	act     func(t *testing.T, q worker.Queue, j *worker.JobRecord)
}

// submitted prepares a queued job.
func submitted(t *testing.T, q worker.Queue) *worker.JobRecord {
	j := job("q")
	submit(t, q, j)
	return j
}

// leased prepares a running job.
func leased(t *testing.T, q worker.Queue) *worker.JobRecord {
	j := submitted(t, q)
	leaseOne(t, q, "q", j)
	return j
}

// dead prepares a job out of attempts.
func dead(t *testing.T, q worker.Queue) *worker.JobRecord {
	j := leased(t, q)
	fail(t, q, j.ID, time.Time{})
	return j
}

// testReady: every event that makes a job leasable signals Ready(), and
// the job is then leasable.
func testReady(t *testing.T, b Backend) {
	for _, c := range []wakeCase{
		{
			name:    "AfterSubmit",
			prepare: func(t *testing.T, q worker.Queue) *worker.JobRecord { return job("q") },
			act:     func(t *testing.T, q worker.Queue, j *worker.JobRecord) { submit(t, q, j) },
		},
		{
			name:    "AfterRelease",
			prepare: leased,
			act: func(t *testing.T, q worker.Queue, j *worker.JobRecord) {
				if err := q.Release(ctx, j.ID); err != nil {
					t.Fatalf("release: %v", err)
				}
			},
		},
		{
			name:    "AfterFailWithDueRetry",
			prepare: leased,
			act:     func(t *testing.T, q worker.Queue, j *worker.JobRecord) { fail(t, q, j.ID, time.Now()) },
		},
		{
			name: "AfterResume",
			prepare: func(t *testing.T, q worker.Queue) *worker.JobRecord {
				if err := q.Pause(ctx, "q"); err != nil {
					t.Fatalf("pause: %v", err)
				}
				return submitted(t, q)
			},
			act: func(t *testing.T, q worker.Queue, j *worker.JobRecord) {
				if err := q.Resume(ctx, "q"); err != nil {
					t.Fatalf("resume: %v", err)
				}
			},
		},
		{
			name:    "AfterRetry",
			prepare: dead,
			act: func(t *testing.T, q worker.Queue, j *worker.JobRecord) {
				if _, err := q.Retry(ctx, j.ID); err != nil {
					t.Fatalf("retry: %v", err)
				}
			},
		},
		{
			name: "AfterRecoverExpired",
			prepare: func(t *testing.T, q worker.Queue) *worker.JobRecord {
				j := submitted(t, q)
				got, _, err := q.Lease(ctx, "q", 1, time.Millisecond)
				if err != nil || len(got) != 1 {
					t.Fatalf("lease: %v %v", ids(got), err)
				}
				time.Sleep(time.Until(got[0].LeaseUntil.Add(time.Millisecond))) // the lease running out is the event
				return j
			},
			act: func(t *testing.T, q worker.Queue, j *worker.JobRecord) {
				if n, err := q.RecoverExpired(ctx); err != nil || n != 1 {
					t.Fatalf("recovered %d (%v), want 1", n, err)
				}
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			q := b.Open(t, nil)
			j := c.prepare(t, q)
			drainReady(t, q)
			c.act(t, q, j)
			awaitReady(t, q, c.name)
			leaseOne(t, q, "q", j)
		})
	}
}

// testChanged: every change of a job's state closes the channel Changed()
// gave before it.
func testChanged(t *testing.T, b Backend) {
	for _, c := range []struct {
		wakeCase
		want worker.State
	}{
		{wakeCase{
			name:    "OnSubmit",
			prepare: func(t *testing.T, q worker.Queue) *worker.JobRecord { return job("q") },
			act:     func(t *testing.T, q worker.Queue, j *worker.JobRecord) { submit(t, q, j) },
		}, worker.StateQueued},
		{wakeCase{
			name:    "OnLease",
			prepare: submitted,
			act:     func(t *testing.T, q worker.Queue, j *worker.JobRecord) { leaseOne(t, q, "q", j) },
		}, worker.StateRunning},
		{wakeCase{
			name:    "OnComplete",
			prepare: leased,
			act:     func(t *testing.T, q worker.Queue, j *worker.JobRecord) { complete(t, q, j.ID) },
		}, worker.StateSucceeded},
		{wakeCase{
			name:    "OnFailRetrying",
			prepare: leased,
			act:     func(t *testing.T, q worker.Queue, j *worker.JobRecord) { fail(t, q, j.ID, time.Now().Add(time.Hour)) },
		}, worker.StateRetrying},
		{wakeCase{
			name:    "OnFailDead",
			prepare: leased,
			act:     func(t *testing.T, q worker.Queue, j *worker.JobRecord) { fail(t, q, j.ID, time.Time{}) },
		}, worker.StateDead},
		{wakeCase{
			name:    "OnCancel",
			prepare: submitted,
			act: func(t *testing.T, q worker.Queue, j *worker.JobRecord) {
				if _, err := q.Cancel(ctx, j.ID); err != nil {
					t.Fatalf("cancel: %v", err)
				}
			},
		}, worker.StateCancelled},
		{wakeCase{
			name:    "OnRetry",
			prepare: dead,
			act: func(t *testing.T, q worker.Queue, j *worker.JobRecord) {
				if _, err := q.Retry(ctx, j.ID); err != nil {
					t.Fatalf("retry: %v", err)
				}
			},
		}, worker.StateQueued},
		{wakeCase{
			name:    "OnRelease",
			prepare: leased,
			act: func(t *testing.T, q worker.Queue, j *worker.JobRecord) {
				if err := q.Release(ctx, j.ID); err != nil {
					t.Fatalf("release: %v", err)
				}
			},
		}, worker.StateQueued},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			q := b.Open(t, nil)
			j := c.prepare(t, q)
			changed := openChanged(t, q)
			c.act(t, q, j)
			awaitChanged(t, changed, c.name)
			if got := get(t, q, j.ID); got.State != c.want {
				t.Fatalf("job is %s after %s, want %s", got.State, c.name, c.want)
			}
		})
	}
}
