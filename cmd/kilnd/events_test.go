package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"kiln/api"
)

// errEnough ends a stream from the reader's side, as a disconnect.
var errEnough = errors.New("enough events read")

// readEvents reads events of req until n have come (n < 0: until the
// stream ends) and returns them with any gaps.
func readEvents(t *testing.T, e *env, req api.EventsRequest, n int) ([]api.Event, []api.Gap) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var events []api.Event
	var gaps []api.Gap
	err := e.client().Events(ctx, req, func(it api.StreamItem) error {
		if it.Gap != nil {
			gaps = append(gaps, *it.Gap)
			return nil
		}
		events = append(events, *it.Event)
		if n >= 0 && len(events) == n {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		t.Fatalf("events %+v: %v (after %d events)", req, err, len(events))
	}
	return events, gaps
}

// checkContiguous fails unless the events' IDs run from first by one, with
// no gap and no duplicate.
func checkContiguous(t *testing.T, events []api.Event, first uint64) {
	t.Helper()
	for i, ev := range events {
		if ev.ID != first+uint64(i) {
			t.Fatalf("event %d has ID %d, want %d: a gap or a duplicate", i, ev.ID, first+uint64(i))
		}
	}
}

// producer submits noop jobs in small batches until stopped.
type producer struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	ids  []string
	err  error
}

func startProducer(e *env, queue string) *producer {
	p := &producer{stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			reqs := make([]api.SubmitRequest, 5)
			for i := range reqs {
				reqs[i] = api.SubmitRequest{Type: "noop", Queue: queue}
			}
			jobs, err := e.client().SubmitBatch(context.Background(), reqs)
			p.mu.Lock()
			if err != nil {
				p.err = err
				p.mu.Unlock()
				return
			}
			for _, j := range jobs {
				p.ids = append(p.ids, j.ID)
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// finish stops the producer and returns the IDs of the jobs it queued.
func (p *producer) finish(t *testing.T) []string {
	t.Helper()
	close(p.stop)
	p.wg.Wait()
	if p.err != nil {
		t.Fatalf("producer: %v", p.err)
	}
	return p.ids
}

// A client reads 500 events, disconnects and reconnects with
// Last-Event-ID twice while jobs keep coming; the union of what it read is
// every event once, in order, and every job's life is in it.
func TestEventStreamResumesWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, e.configText("", "\n[queues.ev]\nconcurrency = 4\n"))
	e.start(t)

	p := startProducer(e, "ev")
	first, _ := readEvents(t, e, api.EventsRequest{FromStart: true, Follow: true}, 500)
	checkContiguous(t, first, 1)
	second, gaps := readEvents(t, e, api.EventsRequest{Since: first[len(first)-1].ID, Follow: true}, 500)
	if len(gaps) > 0 {
		t.Fatalf("gaps on resume: %+v", gaps)
	}
	ids := p.finish(t)
	for _, id := range ids {
		e.finished(t, id)
	}
	all := append(first, second...)
	rest, gaps := readEvents(t, e, api.EventsRequest{Since: all[len(all)-1].ID}, -1)
	if len(gaps) > 0 {
		t.Fatalf("gaps on resume: %+v", gaps)
	}
	all = append(all, rest...)
	checkContiguous(t, all, 1)

	// Every job queued, ran and succeeded, in that order, and nothing else
	// happened.
	lives := map[string][]string{}
	for _, ev := range all {
		if ev.Queue != "ev" || ev.Type != "noop" {
			t.Fatalf("event of another job: %+v", ev)
		}
		lives[ev.Job] = append(lives[ev.Job], string(ev.From)+">"+string(ev.State))
	}
	if len(lives) != len(ids) {
		t.Fatalf("events tell of %d jobs, %d were queued", len(lives), len(ids))
	}
	for _, id := range ids {
		if got := lives[id]; len(got) != 3 || got[0] != ">queued" || got[1] != "queued>running" || got[2] != "running>succeeded" {
			t.Fatalf("job %s: events %v", id, got)
		}
	}
	t.Logf("%d jobs, %d events read across three connections", len(ids), len(all))
}

// A reader that comes back after retention removed events it had not
// seen gets a gap event naming the first event still kept, then the rest.
func TestEventStreamReportsGapAfterRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, e.configText("", "\n[queues.ev]\nconcurrency = 2\n\n[events]\nmax = 50\n"))
	e.start(t)

	e.submitNoops(t, "ev", 5)
	seen, _ := readEvents(t, e, api.EventsRequest{FromStart: true}, -1)
	if len(seen) != 15 {
		t.Fatalf("read %d events of 5 jobs, want 15", len(seen))
	}
	e.submitNoops(t, "ev", 40) // 120 more events; 50 are kept
	last := seen[len(seen)-1].ID
	events, gaps := readEvents(t, e, api.EventsRequest{Since: last}, -1)
	if len(gaps) != 1 || gaps[0].After != last || gaps[0].FirstKept != 135-50+1 {
		t.Fatalf("gaps = %+v, want one after %d naming first kept 86; %d events, first %+v", gaps, last, len(events), events[0])
	}
	if len(events) != 50 {
		t.Fatalf("%d events after the gap, want 50", len(events))
	}
	checkContiguous(t, events, gaps[0].FirstKept)

	r := e.kilnctl(t, "events", "-since", itoa(int(last)))
	if r.code != 0 || !containsLine(r.stdout, "gap: events 16 to 85 are no longer kept") {
		t.Fatalf("kilnctl events -since %d: exit %d\n%s%s", last, r.code, r.stdout, r.stderr)
	}
}

// kill -9 between events: after the restart the log holds every event that
// was read before the kill, unchanged, and new IDs continue from the last.
func TestEventIDsContinueAfterKill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.writeConfig(t, e.configText("", "\n[queues.ev]\nconcurrency = 2\n"))
	d := e.start(t)
	p := startProducer(e, "ev")
	before, _ := readEvents(t, e, api.EventsRequest{FromStart: true, Follow: true}, 300)
	d.kill(t)
	p.mu.Lock()
	acked := append([]string(nil), p.ids...)
	p.mu.Unlock()
	close(p.stop)
	p.wg.Wait() // its last submit fails: the daemon is gone

	e.start(t)
	after, gaps := readEvents(t, e, api.EventsRequest{FromStart: true}, -1)
	if len(gaps) > 0 {
		t.Fatalf("gaps after restart: %+v", gaps)
	}
	checkContiguous(t, after, 1)
	if len(after) < len(before) {
		t.Fatalf("%d events after restart, %d were read before the kill", len(after), len(before))
	}
	for i, ev := range before {
		if got := after[i]; got.ID != ev.ID || got.Job != ev.Job || got.State != ev.State || !got.Time.Equal(ev.Time) {
			t.Fatalf("event %d read before the kill as %+v is %+v after", ev.ID, ev, got)
		}
	}
	queued := map[string]bool{}
	for _, ev := range after {
		if ev.State == "queued" && ev.From == "" {
			queued[ev.Job] = true
		}
	}
	for _, id := range acked {
		if !queued[id] {
			t.Fatalf("job %s was acknowledged before the kill but its event is missing", id)
		}
	}
	lastBefore := after[len(after)-1].ID
	ids := e.submitNoops(t, "ev", 3)
	more, _ := readEvents(t, e, api.EventsRequest{Since: lastBefore}, -1)
	checkContiguous(t, more, lastBefore+1)
	newJobs := map[string]bool{}
	for _, ev := range more {
		if ev.From == "" {
			newJobs[ev.Job] = true
		}
	}
	for _, id := range ids {
		if !newJobs[id] {
			t.Fatalf("job %s queued after the restart has no event after %d", id, lastBefore)
		}
	}
}

func containsLine(text, line string) bool {
	for _, l := range splitLines(text) {
		if l == line {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
