package rabbitmq

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

// A job that is retried after it ended leaves the index of finished jobs
// and is among the unfinished again; a purge leaves its ID and generation
// only; a file of another stream is set aside, not read on.
func TestRecordStore_IndexesFollowTheJob(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "records.db")
	s, st, err := openRecordStore(path, "p.records@/")
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &record{job: worker.JobRecord{ID: "j1", Queue: "q", Type: "t", State: worker.StateDead, CreatedAt: created, FinishedAt: created.Add(time.Minute)}, seq: 3, gen: 1}
	st.Offset = 41
	if err := s.write(&recordWrite{put: []*record{r}, state: *st}); err != nil {
		t.Fatal(err)
	}
	finished := func() []string {
		var ids []string
		if err := s.finished(time.Time{}, "", func(id, queue string, state worker.State, at time.Time) bool {
			ids = append(ids, id+" "+queue+" "+string(state)+" "+at.Format(time.TimeOnly))
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := finished(); len(got) != 1 || got[0] != "j1 q dead 03:05:05" {
		t.Fatalf("finished = %q, want j1 dead", got)
	}
	retried := *r
	retried.job.State, retried.gen, retried.job.FinishedAt = worker.StateQueued, 2, time.Time{}
	if err := s.write(&recordWrite{put: []*record{&retried}, state: *st}); err != nil {
		t.Fatal(err)
	}
	if got := finished(); len(got) != 0 {
		t.Fatalf("finished after the retry = %q, want none", got)
	}
	open, err := s.unfinished()
	if err != nil || len(open) != 1 || open[0].gen != 2 {
		t.Fatalf("unfinished after the retry = %v, %v; want j1 of generation 2", open, err)
	}
	done := retried
	done.job.State, done.job.FinishedAt = worker.StateSucceeded, created.Add(2*time.Minute)
	if err := s.write(&recordWrite{put: []*record{&done}, state: *st}); err != nil {
		t.Fatal(err)
	}
	if open, err := s.unfinished(); err != nil || len(open) != 0 {
		t.Fatalf("unfinished after the retried job succeeded = %v, %v; want none", open, err)
	}
	if got := finished(); len(got) != 1 || got[0] != "j1 q succeeded 03:06:05" {
		t.Fatalf("finished after the retried job succeeded = %q", got)
	}
	if err := s.write(&recordWrite{purged: map[string]int{"j1": 2}, state: *st}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.get("j1"); got != nil || err != nil {
		t.Fatalf("get after the purge = %+v, %v; want nothing", got, err)
	}
	if gen, ok := s.purgedGen("j1"); !ok || gen != 2 {
		t.Fatalf("purged generation = %d, %v; want 2", gen, ok)
	}
	s.close()

	again, st2, err := openRecordStore(path, "p.records@/")
	if err != nil || st2.Offset != 41 {
		t.Fatalf("reopen: offset %v, %v; want 41", st2, err)
	}
	again.close()
	other, st3, err := openRecordStore(path, "other.records@/")
	if err != nil {
		t.Fatal(err)
	}
	defer other.close()
	if st3.Offset != 0 {
		t.Fatalf("a file of another stream was read on from offset %d", st3.Offset)
	}
	old, _, err := openRecordFile(path+".old", "p.records@/")
	if err != nil {
		t.Fatalf("the file set aside does not open: %v", err)
	}
	old.close()
}

// BenchmarkRecordStore_Write writes what one flush of a busy host holds:
// a second's worth of finished jobs with 1 KiB payloads, each with an ID
// of its time, handed over in no order (the flush collects them from a
// map).
func BenchmarkRecordStore_Write(b *testing.B) {
	s, st, err := openRecordStore(filepath.Join(b.TempDir(), "records.db"), "p.records@/")
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	const perFlush = 10_000
	payload := json.RawMessage(`{"data":"` + strings.Repeat("x", 1010) + `"}`)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		batch := map[string]*record{}
		for k := range perFlush {
			at := t0.Add(time.Duration(i*perFlush+k) * 100 * time.Microsecond)
			id := newID(at)
			batch[id] = &record{job: worker.JobRecord{ID: id, Queue: "q", Type: "t", State: worker.StateSucceeded, Payload: payload, CreatedAt: at, FinishedAt: at}, seq: 3, gen: 1, copy: 1}
		}
		w := &recordWrite{state: *st}
		for _, r := range batch {
			w.put = append(w.put, r)
		}
		b.StartTimer()
		if err := s.write(w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*perFlush), "µs/record")
}
