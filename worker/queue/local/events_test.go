package local

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"kiln/worker"
)

// Every change of state is an event, in commit order, with IDs that go up
// by one; a failed change leaves no event; the log survives a reopen and
// its IDs continue.
func TestEventsFollowEveryChange(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, func(q string) int {
		if q == "full" {
			return 1
		}
		return 0
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	changed := s.EventsChanged()
	j := newJob("q")
	if _, err := s.Submit(ctx, j); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("EventsChanged was not closed by a submit's commit")
	}
	if _, _, err := s.Lease(ctx, "q", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, j.ID, "boom <b>", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(ctx, newJob("full"), newJob("full")); !errors.Is(err, worker.ErrQueueFull) {
		t.Fatalf("over max_queued: %v", err)
	}
	page, err := s.Events(ctx, 0, worker.EventFilter{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ from, to worker.State }{{"", worker.StateQueued}, {worker.StateQueued, worker.StateRunning}, {worker.StateRunning, worker.StateRetrying}}
	if len(page.Events) != len(want) || page.Last != 3 || page.FirstKept != 1 || page.Next != 3 {
		t.Fatalf("page = %+v, want 3 events 1..3", page)
	}
	for i, w := range want {
		e := page.Events[i]
		if e.ID != uint64(i+1) || e.From != w.from || e.State != w.to || e.Job != j.ID || e.Queue != "q" || e.Type != "noop" {
			t.Fatalf("event %d = %+v, want %s -> %s", i, e, w.from, w.to)
		}
	}
	if e := page.Events[2]; e.Error != "boom <b>" || e.Attempt != 1 {
		t.Fatalf("retry event = %+v, want the attempt's error", e)
	}
	s.Close()

	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := newJob("other")
	if _, err := s.Submit(ctx, k); err != nil {
		t.Fatal(err)
	}
	page, err = s.Events(ctx, 3, worker.EventFilter{Queue: "other"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Events[0].ID != 4 || page.Events[0].Job != k.ID {
		t.Fatalf("after reopen: %+v, want event 4 for %s", page.Events, k.ID)
	}
	page, err = s.Events(ctx, 0, worker.EventFilter{States: []worker.State{worker.StateRetrying}}, 100)
	if err != nil || len(page.Events) != 1 || page.Events[0].ID != 3 || page.Next != 4 {
		t.Fatalf("state filter: %+v %v", page, err)
	}
}

// The count cap and the keep time trim the oldest events in the commit
// that writes new ones, and FirstKept tells a reader what is gone.
func TestEventRetention(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var keep atomic.Int64
	b.store.SetEventRetention(func() worker.EventRetention {
		return worker.EventRetention{Max: 10, Keep: time.Duration(keep.Load())}
	})
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		if _, err := b.store.Submit(ctx, newJob("q")); err != nil {
			t.Fatal(err)
		}
	}
	page, err := b.store.Events(ctx, 0, worker.EventFilter{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if page.FirstKept != 16 || page.Last != 25 || len(page.Events) != 10 || page.Events[0].ID != 16 {
		t.Fatalf("count cap 10 after 25 events: first kept %d, last %d, %d events", page.FirstKept, page.Last, len(page.Events))
	}
	keep.Store(int64(time.Nanosecond))
	if _, err := b.store.Submit(ctx, newJob("q")); err != nil {
		t.Fatal(err)
	}
	page, err = b.store.Events(ctx, 0, worker.EventFilter{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	// A submit's event is stamped before its commit starts, so even the
	// event just written is past a keep of a nanosecond.
	if page.FirstKept != 27 || page.Last != 26 || len(page.Events) != 0 {
		t.Fatalf("keep 1ns: first kept %d, last %d, %d events", page.FirstKept, page.Last, len(page.Events))
	}
}

// With no new event to trim it, TrimEvents applies the keep time.
func TestTrimEventsWhenQuiet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var keep atomic.Int64
	keep.Store(int64(time.Hour))
	b.store.SetEventRetention(func() worker.EventRetention { return worker.EventRetention{Keep: time.Duration(keep.Load())} })
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := b.store.Submit(ctx, newJob("q")); err != nil {
			t.Fatal(err)
		}
	}
	keep.Store(int64(time.Nanosecond))
	if err := b.store.TrimEvents(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := b.store.Events(ctx, 0, worker.EventFilter{}, 10)
	if err != nil || len(page.Events) != 0 || page.FirstKept != 4 {
		t.Fatalf("after TrimEvents: %+v %v", page, err)
	}
}

// A store told to omit events writes none, while its jobs go on as ever.
func TestOmitEventsWritesNone(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Submit(ctx, newJob("q")); err != nil {
		t.Fatal(err)
	}
	s.OmitEvents()
	j := newJob("q")
	if _, err := s.Submit(ctx, j); err != nil {
		t.Fatal(err)
	}
	leased, _, err := s.Lease(ctx, "q", 2, time.Minute)
	if err != nil || len(leased) != 2 {
		t.Fatalf("lease: %d jobs, %v", len(leased), err)
	}
	if err := s.Complete(ctx, j.ID, nil); err != nil {
		t.Fatal(err)
	}
	page, err := s.Events(ctx, 0, worker.EventFilter{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Last != 1 {
		t.Fatalf("page = %+v, want only the event from before OmitEvents", page)
	}
	if got, err := s.Get(ctx, j.ID); err != nil || got.State != worker.StateSucceeded {
		t.Fatalf("job after OmitEvents: %+v, %v", got, err)
	}
}
