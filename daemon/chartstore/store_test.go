package chartstore

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

// t0 is a step of a quarter hour's start, and so of a minute's.
var t0 = time.Date(2026, 3, 4, 10, 15, 0, 0, time.UTC)

func openAt(t *testing.T, path string, now *time.Time) (*Store, *bytes.Buffer) {
	t.Helper()
	var logged bytes.Buffer
	s := Open(path, slog.New(slog.NewTextHandler(&logged, nil)))
	s.now = func() time.Time { return *now }
	return s, &logged
}

func TestStore_PutsAttemptsInTheirMinuteAndQuarter(t *testing.T) {
	now := t0.Add(2*time.Minute + 30*time.Second)
	s, _ := openAt(t, filepath.Join(t.TempDir(), FileName), &now)
	s.AttemptEnded("images", t0.Add(10*time.Second), worker.OutcomeSucceeded, time.Second)
	s.AttemptEnded("images", t0.Add(50*time.Second), worker.OutcomeSucceeded, time.Second)
	s.AttemptEnded("images", t0.Add(70*time.Second), worker.OutcomeDead, time.Second)
	s.AttemptEnded("images", t0.Add(75*time.Second), worker.OutcomeRetrying, time.Second)
	s.AttemptEnded("images", t0.Add(80*time.Second), worker.OutcomeCancelled, time.Second)
	// Two hours ago: in the day, not in the hour.
	s.AttemptEnded("images", t0.Add(-2*time.Hour), worker.OutcomeSucceeded, time.Second)
	s.Depth("images", t0.Add(5*time.Second), 7)
	s.Depth("images", t0.Add(20*time.Second), 12)
	s.Depth("images", t0.Add(40*time.Second), 3)

	hour := s.Snapshot(SpanHour)
	pts := hour.Queues["images"]
	if len(pts) != minuteBuckets || hour.Step != time.Minute || !hour.End.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("hour: %d points of %s ending %s; want 60 of 1m0s ending %s", len(pts), hour.Step, hour.End, t0.Add(3*time.Minute))
	}
	first, second := pts[len(pts)-3], pts[len(pts)-2]
	if !first.Start.Equal(t0) || first.Done != 2 || first.Failed != 0 || first.Depth != 12 {
		t.Errorf("minute of %s: %+v; want start %s, 2 done, 0 failed, depth 12", t0, first, t0)
	}
	if second.Done != 0 || second.Failed != 2 || second.Run.N != 3 || second.Depth != -1 {
		t.Errorf("next minute: %+v; want 0 done, 2 failed (the cancel counts neither), 3 run times, no depth", second)
	}
	var hourDone int64
	for _, p := range pts {
		hourDone += p.Done
	}
	if hourDone != 2 {
		t.Errorf("the hour holds %d done; want 2 (the one of two hours ago is not in it)", hourDone)
	}

	day := s.Snapshot(SpanDay)
	dpts := day.Queues["images"]
	if len(dpts) != quarterBucket || day.Step != 15*time.Minute {
		t.Fatalf("day: %d points of %s; want 96 of 15m", len(dpts), day.Step)
	}
	q := dpts[len(dpts)-1]
	if !q.Start.Equal(t0) || q.Done != 2 || q.Failed != 2 || q.Run.N != 5 || q.Depth != 12 {
		t.Errorf("quarter of %s: %+v; want 2 done, 2 failed, 5 run times, depth 12", t0, q)
	}
	if old := dpts[len(dpts)-1-8]; !old.Start.Equal(t0.Add(-2*time.Hour)) || old.Done != 1 {
		t.Errorf("quarter two hours back: %+v; want 1 done at %s", old, t0.Add(-2*time.Hour))
	}
}

func TestStore_APointLeavesTheHourAfterAnHour(t *testing.T) {
	now := t0.Add(30 * time.Second)
	s, _ := openAt(t, filepath.Join(t.TempDir(), FileName), &now)
	s.AttemptEnded("q", t0, worker.OutcomeSucceeded, time.Millisecond)
	now = t0.Add(time.Hour + 30*time.Second)
	// The same place of the ring, an hour on: the old minute goes.
	s.AttemptEnded("q", now, worker.OutcomeSucceeded, time.Millisecond)
	s.AttemptEnded("q", now, worker.OutcomeSucceeded, time.Millisecond)
	var done int64
	for _, p := range s.Snapshot(SpanHour).Queues["q"] {
		done += p.Done
	}
	if done != 2 {
		t.Fatalf("the hour holds %d done; want the 2 of this minute", done)
	}
	// An attempt of before the ring's newest step in its place is too old
	// to take, and takes nothing from the newer step.
	s.AttemptEnded("q", t0, worker.OutcomeSucceeded, time.Millisecond)
	if p := s.Snapshot(SpanHour).Queues["q"][minuteBuckets-1]; p.Done != 2 {
		t.Fatalf("this minute holds %d done after an attempt of an hour ago; want 2", p.Done)
	}
}

func TestStore_Percentiles(t *testing.T) {
	now := t0.Add(30 * time.Second)
	s, _ := openAt(t, filepath.Join(t.TempDir(), FileName), &now)
	for range 90 {
		s.AttemptBegan("q", t0, 10*time.Millisecond)
		s.AttemptEnded("q", t0, worker.OutcomeSucceeded, 200*time.Millisecond)
	}
	for range 10 {
		s.AttemptBegan("q", t0, 2*time.Second)
		s.AttemptEnded("q", t0, worker.OutcomeSucceeded, 30*time.Second)
	}
	p := s.Snapshot(SpanHour).Queues["q"][minuteBuckets-1]
	within := func(what string, got, want time.Duration) {
		t.Helper()
		i := histIndex(want)
		if lo, hi := histLower(i), histLower(i+1); got < lo || got >= hi {
			t.Errorf("%s = %s; want it in %s's bucket [%s, %s)", what, got, want, lo, hi)
		}
	}
	if p.Wait.N != 100 || p.Run.N != 100 {
		t.Fatalf("%d wait and %d run times; want 100 each", p.Wait.N, p.Run.N)
	}
	within("wait p50", p.Wait.P50, 10*time.Millisecond)
	within("wait p95", p.Wait.P95, 2*time.Second)
	within("run p50", p.Run.P50, 200*time.Millisecond)
	within("run p95", p.Run.P95, 30*time.Second)
}

func TestHistogram_BucketsAreLogSpaced(t *testing.T) {
	for _, d := range []time.Duration{0, 500 * time.Microsecond, time.Millisecond, 1500 * time.Microsecond, 7 * time.Millisecond, time.Second, time.Hour, 100 * 24 * time.Hour} {
		i := histIndex(d)
		lo := histLower(i)
		if d < lo || (i < histBuckets-1 && d >= histLower(i+1)) {
			t.Errorf("%s is in bucket %d [%s, %s)", d, i, lo, histLower(i+1))
		}
	}
	if r := float64(histLower(41)) / float64(histLower(40)); r < 1.41 || r > 1.42 {
		t.Errorf("neighbouring bounds differ by %.3f; want √2", r)
	}
}

func TestStore_SurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	now := t0.Add(90 * time.Second)
	s, _ := openAt(t, path, &now)
	s.AttemptBegan("images", t0.Add(5*time.Second), 40*time.Millisecond)
	s.AttemptEnded("images", t0.Add(6*time.Second), worker.OutcomeSucceeded, 900*time.Millisecond)
	s.AttemptEnded("images", t0.Add(65*time.Second), worker.OutcomeDead, 3*time.Second)
	s.AttemptEnded("mail", t0.Add(-3*time.Hour), worker.OutcomeSucceeded, time.Second)
	s.Depth("images", t0.Add(70*time.Second), 42)
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	wantHour, wantDay := s.Snapshot(SpanHour), s.Snapshot(SpanDay)

	again, logged := openAt(t, path, &now)
	if logged.Len() > 0 {
		t.Fatalf("reopening logged: %s", logged)
	}
	if got := again.Snapshot(SpanHour); !reflect.DeepEqual(got, wantHour) {
		t.Errorf("hour after reopening:\n%+v\nwant\n%+v", got, wantHour)
	}
	if got := again.Snapshot(SpanDay); !reflect.DeepEqual(got, wantDay) {
		t.Errorf("day after reopening:\n%+v\nwant\n%+v", got, wantDay)
	}
	// A backend that reads its history again tells of the same attempts:
	// they are counted once; one after them is taken.
	again.AttemptEnded("images", t0.Add(65*time.Second), worker.OutcomeDead, 3*time.Second)
	again.AttemptEnded("images", t0.Add(66*time.Second), worker.OutcomeSucceeded, time.Second)
	p := again.Snapshot(SpanHour).Queues["images"][minuteBuckets-1]
	if p.Failed != 1 || p.Done != 1 {
		t.Errorf("after the history read again: %d failed, %d done; want 1 and 1", p.Failed, p.Done)
	}
}

func TestStore_SavesNothingUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	now := t0
	s, _ := openAt(t, path, &now)
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("an empty store wrote its file: %v", err)
	}
}

func TestStore_ADamagedFileIsLoggedAndStartedAfresh(t *testing.T) {
	for name, content := range map[string]string{
		"not json":      `{"version":1,"queues":{"images":{"minutes":[{"start":`,
		"other version": `{"version":7,"queues":{}}`,
		"bucket off its step": `{"version":1,"queues":{"images":{"minutes":[{"start":` +
			"1772619330" + `,"done":3,"depth":-1}]}}}`,
		"histogram out of range": `{"version":1,"queues":{"images":{"minutes":[{"start":1772619300,"wait":[[64,1]],"depth":-1}]}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
				t.Fatal(err)
			}
			now := t0.Add(time.Minute)
			s, logged := openAt(t, path, &now)
			if !strings.Contains(logged.String(), "saved charts are unreadable") || !strings.Contains(logged.String(), path) {
				t.Fatalf("log says %q; want the unreadable file named", logged)
			}
			if n := len(s.Snapshot(SpanHour).Queues); n != 0 {
				t.Fatalf("%d queues from a damaged file; want none", n)
			}
			s.AttemptEnded("images", t0, worker.OutcomeSucceeded, time.Second)
			if err := s.Save(); err != nil {
				t.Fatal(err)
			}
			again, logged := openAt(t, path, &now)
			if logged.Len() > 0 {
				t.Fatalf("the file written afresh is unreadable too: %s", logged)
			}
			if p := again.Snapshot(SpanHour).Queues["images"][minuteBuckets-2]; p.Done != 1 {
				t.Fatalf("afresh: %+v; want 1 done", p)
			}
		})
	}
}

func TestStore_KeepsAtMostMaxQueues(t *testing.T) {
	now := t0
	s, logged := openAt(t, filepath.Join(t.TempDir(), FileName), &now)
	for i := range maxQueues + 10 {
		s.AttemptEnded("q"+strings.Repeat("x", i), t0, worker.OutcomeSucceeded, time.Second)
	}
	if n := len(s.Snapshot(SpanHour).Queues); n != maxQueues {
		t.Fatalf("%d queues kept; want %d", n, maxQueues)
	}
	if strings.Count(logged.String(), "no room for another queue") != 1 {
		t.Fatalf("log: %s; want the overflow said once", logged)
	}
}
