package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"kiln/worker"
)

// Pages of ListAfter, followed by their cursors, list what List does, in
// its order, each job once, also when jobs share a creation time and when
// one goes between pages. No broker is needed: a listing reads the
// records this process keeps.
func TestListAfterPagesTheRecords(t *testing.T) {
	t.Parallel()
	q := &Queue{recordSet: newRecordSet()}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("job-%02d", i)
		q.records[id] = &record{job: worker.JobRecord{
			ID: id, Queue: []string{"a", "b"}[i%2], State: []worker.State{worker.StateQueued, worker.StateSucceeded}[i%3%2],
			CreatedAt: t0.Add(time.Duration(i/4) * time.Second), // four to a second
		}}
	}
	ctx := context.Background()
	ids := func(jobs []*worker.JobRecord) []string {
		var out []string
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	for _, c := range []struct {
		queue string
		state worker.State
	}{{"", ""}, {"a", ""}, {"", worker.StateSucceeded}, {"b", worker.StateQueued}} {
		want, _ := q.List(ctx, c.queue, c.state, 0)
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			page, next, err := q.ListAfter(ctx, c.queue, c.state, after, 4)
			if err != nil || len(page) > 4 || pages > 30 {
				t.Fatalf("page %d: %d jobs, %v", pages, len(page), err)
			}
			got = append(got, ids(page)...)
			if next == "" {
				break
			}
			after = next
			if pages == 1 {
				// The job the cursor names goes: the next page still
				// starts right after it.
				delete(q.records, page[len(page)-1].ID)
				want = slices.DeleteFunc(want, func(j *worker.JobRecord) bool { return j.ID == page[len(page)-1].ID })
				got = got[:len(got)-1]
			}
		}
		if !slices.Equal(got, ids(want)) {
			t.Errorf("queue %q state %q: pages list %v; List %v", c.queue, c.state, got, ids(want))
		}
	}
	var fe *worker.FieldError
	if _, _, err := q.ListAfter(ctx, "", "", "not a cursor", 4); !errors.As(err, &fe) || fe.Field != "after" {
		t.Errorf("a made-up cursor: %v; want a refusal of after", err)
	}
}
