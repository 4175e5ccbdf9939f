package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

// heldByRateQueue is a queue whose rate, one start per 200 ms, holds most
// of a handful of noops back while the dispatch loop has slots for them.
const heldByRateQueue = `
[queues.rated]
concurrency = 4
rate = "5/s"
burst = 1
`

// metricLine is the value /metrics gives series, "" when it has none.
func (b *serverBundle) metricLine(t *testing.T, series string) string {
	t.Helper()
	code, body := b.do(t, "GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// kiln_queue_held_by_rate is 1 for a queue while its rate holds its due
// jobs back, as status says, 0 for a queue that nothing holds, and 0 again
// once the rate has let every job through.
func TestMetrics_HeldByRate(t *testing.T) {
	t.Parallel()
	b := setupServerWith(t, func(dir string) string { return serverConfig(dir, heldByRateQueue) }, testPlugins())
	const rated, free = `kiln_queue_held_by_rate{queue="rated"}`, `kiln_queue_held_by_rate{queue="images"}`
	if got := b.metricLine(t, rated); got != "0" {
		t.Fatalf("%s = %q before any job, want 0", rated, got)
	}
	ctx := context.Background()
	var ids []string
	for range 8 {
		s, err := b.client.Submit(ctx, api.SubmitRequest{Type: "noop", Queue: "rated"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	runLoop(t, b.d, readyBeat)

	poll := func(within time.Duration, what string, cond func() (string, bool)) {
		t.Helper()
		tick := time.NewTicker(10 * time.Millisecond) // polling the server under test
		defer tick.Stop()
		for deadline := time.Now().Add(within); ; <-tick.C {
			state, ok := cond()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s (%s)", what, within, state)
			}
		}
	}
	poll(10*time.Second, rated+" 1 while status says the rate holds the queue back", func() (string, bool) {
		held := b.metricLine(t, rated)
		st, err := b.client.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("gauge %q, held_by_rate %v", held, st.Queues["rated"].HeldByRate), held == "1" && st.Queues["rated"].HeldByRate
	})
	if got := b.metricLine(t, free); got != "0" {
		t.Errorf("%s = %q while only rated is held back, want 0", free, got)
	}
	poll(20*time.Second, "every job of the rated queue succeeded", func() (string, bool) {
		for _, id := range ids {
			j, err := b.client.Job(ctx, id, 0)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != kilntype.StateSucceeded {
				return fmt.Sprintf("job %s %s", id, j.State), false
			}
		}
		return "", true
	})
	poll(10*time.Second, rated+" 0 once the queue drained", func() (string, bool) {
		held := b.metricLine(t, rated)
		return fmt.Sprintf("gauge %q", held), held == "0"
	})
}
