package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"kiln/worker"
)

// A host that keeps no records runs its share of the jobs, keeps no record
// of any once it has let go of it, answers for every job by asking the
// host that keeps them, and still gets the control events: a cancel of a
// job it runs, a pause of a queue it consumes. With no host that keeps
// records up, its lookups are refused with the reason.
func TestLightHost_RunsJobsAndAsksForTheRest(t *testing.T) {
	needNode(t)
	url, prefix := node.URL(""), randomPrefix()
	keeper := openQueue(t, url, prefix, nil)
	cancels := make(chan string, 16)
	light := openQueueWith(t, url, Options{URLs: []string{url}, Prefix: prefix, Queues: testQueues, Log: testLog(t),
		RecordsFile: filepath.Join(t.TempDir(), "records.db"), NoRecords: true,
		OnCancel: func(id string) { cancels <- id }})
	ctx := context.Background()

	// Jobs submitted through the light host run on both.
	const n = 60
	var jobs []*worker.JobRecord
	for i := 0; i < n; i++ {
		jobs = append(jobs, &worker.JobRecord{Queue: "q", Type: "test", Payload: json.RawMessage(`{"n":1}`)})
	}
	if _, err := light.Submit(ctx, jobs...); err != nil {
		t.Fatal(err)
	}
	ranOn := map[string]int{}
	for done := 0; done < n; {
		progressed := false
		for name, q := range map[string]*Queue{"keeper": keeper, "light": light} {
			got, _, err := q.Lease(ctx, "q", 4, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range got {
				if err := q.Complete(ctx, j.ID, json.RawMessage(`{"ok":true}`)); err != nil {
					t.Fatalf("%s: complete %s: %v", name, j.ID, err)
				}
				ranOn[name]++
				done++
				progressed = true
			}
		}
		if !progressed {
			t.Fatalf("%d of %d jobs done, then neither host leased any", done, n)
		}
	}
	if ranOn["light"] == 0 {
		t.Fatalf("jobs ran %v: none on the light host", ranOn)
	}
	for _, j := range jobs {
		got, err := light.Get(ctx, j.ID)
		if err != nil || got.State != worker.StateSucceeded || string(got.Payload) != `{"n":1}` {
			t.Fatalf("light host: job %s = %+v, %v; want succeeded with its payload", j.ID, got, err)
		}
	}
	st, err := light.Stats(ctx)
	if err != nil || st["q"] == nil || st["q"].Counts[worker.StateSucceeded] != n {
		t.Fatalf("light host: stats %+v, %v; want %d succeeded in q", st["q"], err, n)
	}
	light.mu.Lock()
	kept := len(light.records)
	light.mu.Unlock()
	if kept != 0 {
		t.Fatalf("light host keeps %d records after every job ended, want 0", kept)
	}
	t.Logf("jobs run per host %v; the light host keeps %d records", ranOn, kept)

	// A job submitted on the keeper and waited for on the light host.
	// Queue "k" is consumed by the keeper alone (from its first lease),
	// "l" by the light host alone.
	waited := &worker.JobRecord{Queue: "k", Type: "test", Payload: json.RawMessage(`{}`)}
	if _, err := keeper.Submit(ctx, waited); err != nil {
		t.Fatal(err)
	}
	endOf := make(chan *worker.JobRecord, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		j, err := light.WaitFinished(wctx, waited.ID)
		if err != nil {
			t.Errorf("light host: wait for %s: %v", waited.ID, err)
		}
		endOf <- j
	}()
	leaseOneOf(t, keeper, "k", waited.ID)
	if err := keeper.Complete(ctx, waited.ID, nil); err != nil {
		t.Fatal(err)
	}
	if j := <-endOf; j == nil || j.State != worker.StateSucceeded {
		t.Fatalf("light host: waited for %s and got %+v, want succeeded", waited.ID, j)
	}

	// A cancel on the keeper of a job running on the light host.
	running := &worker.JobRecord{Queue: "l", Type: "test", Payload: json.RawMessage(`{}`)}
	if _, err := keeper.Submit(ctx, running); err != nil {
		t.Fatal(err)
	}
	leaseOneOf(t, light, "l", running.ID)
	if _, err := keeper.Cancel(ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-cancels:
		if id != running.ID {
			t.Fatalf("light host told to cancel %s, want %s", id, running.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the light host was not told of the cancel of the job it runs within 10 s")
	}
	if err := light.Complete(ctx, running.ID, nil); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if got, err := keeper.WaitFinished(wctx, running.ID); err != nil || got.State != worker.StateCancelled {
		t.Fatalf("keeper: cancelled job %s = %+v, %v; want cancelled", running.ID, got, err)
	}

	// A pause on the keeper stops the light host's leases.
	if err := keeper.Pause(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	waitPaused(t, light, "q", true)
	if err := keeper.Resume(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	waitPaused(t, light, "q", false)

	if _, err := light.Purge(ctx, "", worker.StateSucceeded, 0); !errors.Is(err, worker.ErrNotSupported) {
		t.Fatalf("purge on the light host: %v, want refused", err)
	} else {
		t.Logf("purge on the light host: %v", err)
	}

	// No host that keeps records is up: lookups are refused, with why.
	// (The caller's deadline, shorter than the backend's own wait for an
	// answer, keeps the case short.)
	keeper.Close()
	gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := light.Get(gctx, jobs[0].ID); !errors.Is(err, worker.ErrUnavailable) {
		t.Fatalf("light host alone: get %v, want unavailable", err)
	} else {
		t.Logf("light host alone: %v", err)
	}
}

// leaseOneOf leases from q until it holds job id, within 10 s.
func leaseOneOf(t *testing.T, q *Queue, queue, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got, _, err := q.Lease(context.Background(), queue, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range got {
			if j.ID == id {
				return
			}
			t.Fatalf("leased %s, want %s", j.ID, id)
		}
	}
	t.Fatalf("job %s not leased within 10 s", id)
}

// waitPaused waits until q sees queue paused (or resumed), within 10 s.
func waitPaused(t *testing.T, q *Queue, queue string, paused bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changed := q.Changed()
		q.mu.Lock()
		now := q.paused[queue]
		q.mu.Unlock()
		if now == paused {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("queue %s paused=%v on the light host 10 s after the keeper changed it to %v", queue, now, paused)
		}
	}
}
