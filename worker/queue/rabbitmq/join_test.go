package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

// joinSetup is a host "a" that ran a history: jobs succeeded and dead in
// queue "q", and jobs left waiting in queue "w", which no one consumes.
type joinSetup struct {
	url, prefix string
	a           *Queue
	succeeded   []string
	dead        []string
	waiting     []string
}

func setupJoin(t *testing.T, n int) *joinSetup {
	t.Helper()
	needNode(t)
	s := &joinSetup{url: node.URL(""), prefix: randomPrefix()}
	s.a = openQueue(t, s.url, s.prefix, nil)
	ctx := context.Background()
	var jobs []*worker.JobRecord
	for i := 0; i < n; i++ {
		jobs = append(jobs, &worker.JobRecord{Queue: "q", Type: "test", Payload: json.RawMessage(`{}`), MaxAttempts: 1})
	}
	if _, err := s.a.Submit(ctx, jobs...); err != nil {
		t.Fatal(err)
	}
	for done := 0; done < n; {
		got, _, err := s.a.Lease(ctx, "q", 50, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			t.Fatalf("leased %d of %d jobs, then none", done, n)
		}
		for _, j := range got {
			if done%10 == 0 {
				if err := s.a.Fail(ctx, j.ID, "broken on purpose", time.Time{}); err != nil {
					t.Fatal(err)
				}
				s.dead = append(s.dead, j.ID)
			} else {
				if err := s.a.Complete(ctx, j.ID, json.RawMessage(`{"ok":true}`)); err != nil {
					t.Fatal(err)
				}
				s.succeeded = append(s.succeeded, j.ID)
			}
			done++
		}
	}
	var wait []*worker.JobRecord
	for i := 0; i < 5; i++ {
		wait = append(wait, &worker.JobRecord{Queue: "w", Type: "test", Payload: json.RawMessage(`{}`)})
	}
	if _, err := s.a.Submit(ctx, wait...); err != nil {
		t.Fatal(err)
	}
	for _, j := range wait {
		s.waiting = append(s.waiting, j.ID)
	}
	return s
}

// openHost opens a new host on the setup's prefix, with a records file of
// its own.
func (s *joinSetup) openHost(t *testing.T, hold <-chan struct{}) *Queue {
	t.Helper()
	return openQueueWith(t, s.url, Options{URLs: []string{s.url}, Prefix: s.prefix, Queues: testQueues, Log: testLog(t),
		RecordsFile: filepath.Join(t.TempDir(), "records.db"), holdPast: hold})
}

// checkAnswers requires q to answer for the history as it is.
func (s *joinSetup) checkAnswers(t *testing.T, q *Queue, who string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []struct {
		ids   []string
		state worker.State
	}{{s.succeeded, worker.StateSucceeded}, {s.dead, worker.StateDead}, {s.waiting, worker.StateQueued}} {
		for _, id := range c.ids {
			j, err := q.Get(ctx, id)
			if err != nil {
				t.Fatalf("%s: get %s: %v", who, id, err)
			}
			if j.State != c.state {
				t.Fatalf("%s: job %s is %s, want %s", who, id, j.State, c.state)
			}
		}
	}
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatalf("%s: stats: %v", who, err)
	}
	counts := func(queue string) map[worker.State]int {
		if st[queue] == nil {
			return nil
		}
		return st[queue].Counts
	}
	if got := counts("q"); got[worker.StateSucceeded] != len(s.succeeded) || got[worker.StateDead] != len(s.dead) {
		t.Fatalf("%s: counts of q %v, want %d succeeded and %d dead", who, got, len(s.succeeded), len(s.dead))
	}
	if got := counts("w"); got[worker.StateQueued] != len(s.waiting) {
		t.Fatalf("%s: counts of w %v, want %d queued", who, got, len(s.waiting))
	}
	dead, err := q.List(ctx, "q", worker.StateDead, 0)
	if err != nil {
		t.Fatalf("%s: list dead: %v", who, err)
	}
	var ids []string
	for _, j := range dead {
		ids = append(ids, j.ID)
	}
	want := slices.Clone(s.dead)
	slices.Sort(ids)
	slices.Sort(want)
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("%s: dead jobs listed %v, want %v", who, ids, want)
	}
}

// A new host joins a fleet whose history it has not read: it is ready at
// once and answers for every job of the past (asking a host that has it),
// refuses what needs every record of its own, and once it has read the
// past itself it answers alone.
func TestJoin_NewHostAnswersForThePastBeforeItReadsIt(t *testing.T) {
	s := setupJoin(t, 120)
	hold := make(chan struct{})
	b := s.openHost(t, hold)
	select {
	case <-b.PastRead():
		t.Fatal("the new host read the past while it was held")
	default:
	}
	if !b.pastUnread() {
		t.Fatal("the new host did not join from the fleet: it read the whole past before ready")
	}
	s.checkAnswers(t, b, "joined host, past unread")

	ctx := context.Background()
	if _, err := b.Purge(ctx, "", worker.StateSucceeded, 0); !errors.Is(err, worker.ErrUnavailable) {
		t.Fatalf("purge on a host that has not read the past: %v, want unavailable", err)
	} else {
		t.Logf("purge refused: %v", err)
	}
	// A job of the past that the new host cancels: it has no record of
	// its own, it takes the fleet's.
	if _, err := b.Cancel(ctx, s.waiting[0]); err != nil {
		t.Fatalf("cancel a waiting job of the past on the joined host: %v", err)
	}
	s.waiting = s.waiting[1:]
	if _, err := b.Cancel(ctx, s.succeeded[0]); !errors.Is(err, worker.ErrWrongState) {
		t.Fatalf("cancel a succeeded job of the past on the joined host: %v, want wrong state", err)
	}

	close(hold)
	select {
	case <-b.PastRead():
	case <-time.After(30 * time.Second):
		t.Fatal("the past not read 30 s after it was let go")
	}
	s.a.Close()
	s.checkAnswers(t, b, "joined host, past read, alone")
}

// The first host of a fleet, or one whose fleet is down, has no one to
// ask: it reads the whole past before it is ready.
func TestJoin_NoOneToAskReadsThePastFirst(t *testing.T) {
	s := setupJoin(t, 40)
	s.a.Close()
	hold := make(chan struct{}) // never closed: a join would hang here
	b := s.openHost(t, hold)
	select {
	case <-b.PastRead():
	default:
		t.Fatal("a host with no one to ask is ready before it read the past")
	}
	s.checkAnswers(t, b, "host alone")
}

// A host that joins after the records stream dropped its oldest segments
// copies the records of the jobs whose events are gone from a host that
// read them in time: alone afterwards, it still answers for every job.
func TestJoin_StreamCutCopiesOlderRecords(t *testing.T) {
	needNode(t)
	url, prefix := node.URL(""), randomPrefix()
	small := func() Options {
		return Options{URLs: []string{url}, Prefix: prefix, Queues: testQueues, Log: testLog(t),
			RecordsFile: filepath.Join(t.TempDir(), "records.db"), RecordsMaxBytes: 192 << 10, RecordsSegmentBytes: 64 << 10}
	}
	a := openQueueWith(t, url, small())
	ctx := context.Background()
	var ids []string
	for round := 0; ; round++ {
		var jobs []*worker.JobRecord
		for i := 0; i < 50; i++ {
			jobs = append(jobs, &worker.JobRecord{Queue: "q", Type: "test", Payload: json.RawMessage(`{"pad":"` + strings.Repeat("x", 200) + `"}`)})
		}
		if _, err := a.Submit(ctx, jobs...); err != nil {
			t.Fatal(err)
		}
		for done := 0; done < len(jobs); {
			got, _, err := a.Lease(ctx, "q", 50, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				t.Fatalf("round %d: leased %d of %d", round, done, len(jobs))
			}
			for _, j := range got {
				if err := a.Complete(ctx, j.ID, nil); err != nil {
					t.Fatal(err)
				}
				done++
			}
		}
		for _, j := range jobs {
			ids = append(ids, j.ID)
		}
		first, err := a.firstOffset(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if first > 0 {
			t.Logf("the stream starts at offset %d after %d jobs", first, len(ids))
			break
		}
		if round == 100 {
			t.Fatalf("the stream still starts at offset 0 after %d jobs", len(ids))
		}
	}
	// The stream's first offset of a segment holds no message, which the
	// reader takes a moment to be sure of: a has read up to now before b
	// asks it.
	a.mu.Lock()
	l := a.link
	a.mu.Unlock()
	if err := a.readToNow(l, "test", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	b := openQueueWith(t, url, small())
	if !b.pastUnread() {
		t.Fatal("the new host did not join: it read what is left of the stream before ready")
	}
	select {
	case <-b.PastRead():
	case <-time.After(60 * time.Second):
		t.Fatal("the joined host did not finish reading the past within 60 s")
	}
	a.Close()
	for _, id := range ids {
		j, err := b.Get(ctx, id)
		if err != nil || j.State != worker.StateSucceeded {
			t.Fatalf("alone, the joined host answers for job %s: %+v, %v; want succeeded", id, j, err)
		}
	}
	st, err := b.Stats(ctx)
	if err != nil || st["q"] == nil || st["q"].Counts[worker.StateSucceeded] != len(ids) {
		t.Fatalf("alone, the joined host counts %+v, %v; want %d succeeded", st["q"], err, len(ids))
	}
}
