package local

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"kiln/worker"
)

// Pages of ListAfter, followed by their cursors, list what List does in
// its order, each job once: across states and queues, for one state, one
// queue, and while jobs change state between pages. A cursor of another
// listing is refused.
func TestListAfterPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for i := 0; i < 40; i++ {
		q := []string{"a", "b", "c"}[i%3]
		if _, err := b.store.Submit(ctx, newJob(q)); err != nil {
			t.Fatal(err)
		}
	}
	// Some running, some cancelled: three states.
	if _, _, err := b.store.Lease(ctx, "a", 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	queued, _ := b.store.List(ctx, "b", worker.StateQueued, 3)
	for _, j := range queued {
		if _, err := b.store.Cancel(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(jobs []*worker.JobRecord) []string {
		var out []string
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	follow := func(queue string, state worker.State, limit int, between func()) ([]string, int) {
		var all []string
		after, pages := "", 0
		for {
			page, next, err := b.store.ListAfter(ctx, queue, state, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page) > limit {
				t.Fatalf("page of %d over the limit %d", len(page), limit)
			}
			all = append(all, ids(page)...)
			if next == "" {
				return all, pages
			}
			if pages > 100 {
				t.Fatal("the pages never end")
			}
			after = next
			if between != nil {
				between()
			}
		}
	}
	for _, c := range []struct {
		queue string
		state worker.State
	}{{"", ""}, {"", worker.StateQueued}, {"b", ""}, {"a", worker.StateRunning}, {"c", worker.StateDead}} {
		want, err := b.store.List(ctx, c.queue, c.state, 1000)
		if err != nil {
			t.Fatal(err)
		}
		got, pages := follow(c.queue, c.state, 7, nil)
		if !slices.Equal(got, ids(want)) {
			t.Errorf("queue %q state %q: pages list %v; List %v", c.queue, c.state, got, ids(want))
		}
		if wantPages := max(1, (len(want)+6)/7); pages != wantPages {
			t.Errorf("queue %q state %q: %d pages for %d jobs; want %d", c.queue, c.state, pages, len(want), wantPages)
		}
	}
	// Jobs that leave the state listed between pages do not make the
	// others repeat or go missing.
	before, _ := b.store.List(ctx, "c", worker.StateQueued, 1000)
	got, _ := follow("c", worker.StateQueued, 4, func() {
		if _, _, err := b.store.Lease(ctx, "c", 1, time.Minute); err != nil {
			t.Fatal(err)
		}
	})
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("job %s listed twice", id)
		}
		seen[id] = true
	}
	after, _ := b.store.List(ctx, "c", worker.StateQueued, 1000)
	for _, j := range after {
		if !seen[j.ID] {
			t.Errorf("job %s, queued throughout, never listed", j.ID)
		}
	}
	if len(before) == len(after) {
		t.Fatal("no job changed state between the pages")
	}

	_, next, err := b.store.ListAfter(ctx, "a", "", "", 2)
	if err != nil || next == "" {
		t.Fatalf("first page: %q %v", next, err)
	}
	var fe *worker.FieldError
	for _, bad := range []struct{ queue, after string }{{"b", next}, {"a", "%%%"}, {"a", "AA"}} {
		if _, _, err := b.store.ListAfter(ctx, bad.queue, "", bad.after, 2); !errors.As(err, &fe) || fe.Field != "after" {
			t.Errorf("cursor %q for queue %q: %v; want a refusal of after", bad.after, bad.queue, err)
		}
	}
	if _, _, err := b.store.ListAfter(ctx, "a", worker.StateDead, next, 2); !errors.As(err, &fe) {
		t.Errorf("a cursor of another state: %v; want refused", err)
	}
}
