package local

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"kiln/worker"
)

// The events held in memory read exactly as the log on disk: the same
// events, IDs, times, errors and bounds, for every starting point, filter
// and limit, before and after retention trims the oldest and once the
// store has written more events than memory holds.
func TestEventsInMemoryReadAsOnDisk(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	compare := func(when string) {
		t.Helper()
		head, err := s.eventsOnDisk(0, worker.EventFilter{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		filters := []worker.EventFilter{{}, {Queue: "b"}, {States: []worker.State{worker.StateRetrying, worker.StateSucceeded}}}
		afters := []uint64{0, 1, head.FirstKept - 1, head.FirstKept, head.Last - eventsInMemory, head.Last - eventsInMemory + 1, head.Last - 10, head.Last, head.Last + 5}
		for _, after := range afters {
			if after > head.Last+5 { // wrapped below zero
				continue
			}
			for fi, f := range filters {
				for _, limit := range []int{0, 1, 100, 20000} {
					got, err := s.Events(ctx, after, f, limit)
					if err != nil {
						t.Fatal(err)
					}
					want, err := s.eventsOnDisk(after, f, limit)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: after %d, filter %d, limit %d:\n got %d events, next %d, first kept %d, last %d\nwant %d events, next %d, first kept %d, last %d",
							when, after, fi, limit, len(got.Events), got.Next, got.FirstKept, got.Last, len(want.Events), want.Next, want.FirstKept, want.Last)
					}
				}
			}
		}
	}
	compare("empty")
	round := func(n int) {
		jobs := make([]*worker.JobRecord, n)
		for i := range jobs {
			jobs[i] = newJob([]string{"a", "b"}[i%2])
		}
		if _, err := s.Submit(ctx, jobs...); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"a", "b"} {
			leased, _, err := s.Lease(ctx, q, n, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for i, j := range leased {
				if i%3 == 0 {
					err = s.Fail(ctx, j.ID, fmt.Sprintf("attempt failed <%d>\n", i), time.Now().Add(time.Hour))
				} else {
					err = s.Complete(ctx, j.ID, nil)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	round(50)
	compare("after a few events")
	for s.recent.last < 2*eventsInMemory {
		round(500)
	}
	compare("after more events than memory holds")
	s.SetEventRetention(func() worker.EventRetention { return worker.EventRetention{Max: 3000} })
	round(100)
	compare("after retention trimmed the log below what memory holds")
	if err := s.TrimEvents(ctx); err != nil {
		t.Fatal(err)
	}
	compare("after a trim of its own")
}
