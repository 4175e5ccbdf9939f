package queuetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

// eventsWithin bounds the wait for events to reach a reader of the log.
const eventsWithin = 20 * time.Second

// testEvents: every change of a job's state is an event of the log, in
// order, with the state it came from; a reader resumes exactly after the
// last ID it saw, also on another process of the same queue; a filter
// passes only what it names.
func testEvents(t *testing.T, b Backend) {
	q := b.Open(t, nil)
	log, ok := q.(worker.EventLog)
	if !ok {
		t.Skip("skipped: the backend keeps no event log")
	}
	head, err := log.Events(ctx, 0, worker.EventFilter{}, 0)
	if err != nil {
		t.Fatalf("events head: %v", err)
	}
	ok1, dead := job("ev"), job("ev")
	submit(t, q, ok1)
	complete(t, q, leaseOne(t, q, "ev", ok1).ID)
	submit(t, q, dead)
	fail(t, q, leaseOne(t, q, "ev", dead).ID, time.Time{})

	want := []string{
		ok1.ID + " queued from ", ok1.ID + " running from queued", ok1.ID + " succeeded from running",
		dead.ID + " queued from ", dead.ID + " running from queued", dead.ID + " dead from running",
	}
	all := ReadEvents(t, log, head.Last, worker.EventFilter{Queue: "ev"}, len(want))
	if got := describeEvents(all); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatalf("event IDs do not increase: %d after %d", all[i].ID, all[i-1].ID)
		}
	}
	if all[5].Error != "test failure" || all[2].Error != "" {
		t.Fatalf("errors of the events: succeeded %q, dead %q; want none and the attempt's", all[2].Error, all[5].Error)
	}
	if all[1].Attempt != 1 || all[1].Type != "test" {
		t.Fatalf("running event: attempt %d, type %q; want 1, test", all[1].Attempt, all[1].Type)
	}

	// Resuming after the third event gives exactly the other three.
	rest := ReadEvents(t, log, all[2].ID, worker.EventFilter{Queue: "ev"}, 3)
	if got, wantRest := describeEvents(rest), want[3:]; strings.Join(got, "\n") != strings.Join(wantRest, "\n") {
		t.Fatalf("resumed after %d:\n%s\nwant:\n%s", all[2].ID, strings.Join(got, "\n"), strings.Join(wantRest, "\n"))
	}
	// A filter by state passes only that state.
	done := ReadEvents(t, log, head.Last, worker.EventFilter{Queue: "ev", States: []worker.State{worker.StateSucceeded, worker.StateDead}}, 2)
	if done[0].ID != all[2].ID || done[1].ID != all[5].ID {
		t.Fatalf("filtered by state: %v, want the IDs %d and %d", describeEvents(done), all[2].ID, all[5].ID)
	}
	if b.Peer == nil {
		return
	}
	// Another process of the same queue reads the same log under the
	// same IDs.
	peer, ok := b.Peer(t, q).(worker.EventLog)
	if !ok {
		t.Fatal("the peer keeps no event log")
	}
	there := ReadEvents(t, peer, all[0].ID, worker.EventFilter{Queue: "ev"}, 5)
	for i, e := range there {
		if e.ID != all[i+1].ID || e.Job != all[i+1].Job || e.State != all[i+1].State {
			t.Fatalf("the peer's event %d is %d %s %s; this process's %d %s %s", i, e.ID, e.Job, e.State, all[i+1].ID, all[i+1].Job, all[i+1].State)
		}
	}
}

// ReadEvents reads the log after ID after until n events that pass f are
// in, and checks that no more come in the same read and that the log told
// of no gap. A backend's own event tests use it too.
func ReadEvents(t *testing.T, log worker.EventLog, after uint64, f worker.EventFilter, n int) []worker.Event {
	t.Helper()
	var out []worker.Event
	deadline := time.After(eventsWithin)
	for len(out) < n {
		changed := log.EventsChanged()
		page, err := log.Events(ctx, after, f, 100)
		if err != nil {
			t.Fatalf("events after %d: %v", after, err)
		}
		if page.FirstKept > after+1 {
			t.Fatalf("events after %d: a gap up to %d", after, page.FirstKept)
		}
		out = append(out, page.Events...)
		after = page.Next
		if len(page.Events) > 0 || page.Next < page.Last {
			continue
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%d events after %s, want %d: %v", len(out), eventsWithin, n, describeEvents(out))
		}
	}
	if len(out) > n {
		t.Fatalf("%d events, want %d: %v", len(out), n, describeEvents(out))
	}
	return out
}

func describeEvents(evs []worker.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s from %s", e.Job, e.State, e.From))
	}
	return out
}
