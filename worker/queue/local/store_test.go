package local

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

type bundle struct {
	path  string
	store *Store
}

func setup(t *testing.T) *bundle {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &bundle{path: path, store: s}
}

func newJob(queue string) *worker.JobRecord {
	return &worker.JobRecord{Queue: queue, Type: "noop", Payload: json.RawMessage(`{"n":1}`), MaxAttempts: 3}
}

func TestSubmitLeaseComplete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := newJob("q")
	if _, err := b.store.Submit(ctx, j); err != nil {
		t.Fatal(err)
	}
	if j.ID == "" || j.State != worker.StateQueued {
		t.Fatalf("submitted job = %+v", j)
	}
	leased, _, err := b.store.Lease(ctx, "q", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(leased) != 1 || leased[0].ID != j.ID || leased[0].Attempts != 1 || leased[0].State != worker.StateRunning {
		t.Fatalf("leased = %+v", leased)
	}
	again, _, err := b.store.Lease(ctx, "q", 10, time.Minute)
	if err != nil || len(again) != 0 {
		t.Fatalf("second lease = %v, %v; want nothing", again, err)
	}
	if err := b.store.Complete(ctx, j.ID, json.RawMessage(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.Get(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != worker.StateSucceeded || string(got.Result) != `{"ok":true}` {
		t.Fatalf("after complete: %+v", got)
	}
	if err := b.store.Complete(ctx, j.ID, nil); err == nil {
		t.Fatal("completing a finished job again succeeded")
	}
}

func TestLeaseOnlyTakesItsQueueAndDueJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	later := newJob("a")
	later.RunAt = time.Now().Add(time.Hour)
	other := newJob("b")
	now := newJob("a")
	if _, err := b.store.Submit(ctx, later, other, now); err != nil {
		t.Fatal(err)
	}
	if later.State != worker.StateScheduled {
		t.Fatalf("future job state = %s, want scheduled", later.State)
	}
	leased, next, err := b.store.Lease(ctx, "a", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(leased) != 1 || leased[0].ID != now.ID {
		t.Fatalf("leased %v, want only %s", leased, now.ID)
	}
	if !next.Equal(later.RunAt) {
		t.Fatalf("next = %v, want %v", next, later.RunAt)
	}
}

func TestFailRetriesThenDies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := newJob("q")
	if _, err := b.store.Submit(ctx, j); err != nil {
		t.Fatal(err)
	}
	leased, _, _ := b.store.Lease(ctx, "q", 1, time.Minute)
	if len(leased) != 1 {
		t.Fatal("nothing leased")
	}
	if err := b.store.Fail(ctx, j.ID, "boom", time.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ := b.store.Get(ctx, j.ID)
	if got.State != worker.StateRetrying || got.LastError != "boom" {
		t.Fatalf("after retryable failure: %+v", got)
	}
	leased, _, _ = b.store.Lease(ctx, "q", 1, time.Minute)
	if len(leased) != 1 || leased[0].Attempts != 2 {
		t.Fatalf("retry lease = %+v", leased)
	}
	if err := b.store.Fail(ctx, j.ID, "boom again", time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, _ = b.store.Get(ctx, j.ID)
	if got.State != worker.StateDead || got.LastError != "boom again" {
		t.Fatalf("after final failure: %+v", got)
	}
}

func TestReleaseDoesNotCountTheAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := newJob("q")
	if _, err := b.store.Submit(ctx, j); err != nil {
		t.Fatal(err)
	}
	b.store.Lease(ctx, "q", 1, time.Minute)
	if err := b.store.Release(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := b.store.Get(ctx, j.ID)
	if got.State != worker.StateQueued || got.Attempts != 0 {
		t.Fatalf("after release: state %s attempts %d", got.State, got.Attempts)
	}
}

// A crash leaves jobs running in the file. Reopening must hand them back,
// with the interrupted attempt counted, and kill those out of attempts.
func TestOpenRecoversInterruptedJobs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "queue.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	retry := newJob("q")
	last := newJob("q")
	last.MaxAttempts = 1
	if _, err := s.Submit(ctx, retry, last); err != nil {
		t.Fatal(err)
	}
	if leased, _, _ := s.Lease(ctx, "q", 2, time.Minute); len(leased) != 2 {
		t.Fatalf("leased %d, want 2", len(leased))
	}
	s.Close() // as if the process died here: the leases stay in the file

	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, _ := s.Get(ctx, retry.ID)
	if got.State != worker.StateRetrying || got.Attempts != 1 || !strings.Contains(got.LastError, "interrupted") {
		t.Fatalf("interrupted job with attempts left: %+v", got)
	}
	got, _ = s.Get(ctx, last.ID)
	if got.State != worker.StateDead || !strings.Contains(got.LastError, "interrupted") {
		t.Fatalf("interrupted job out of attempts: %+v", got)
	}
	leased, _, _ := s.Lease(ctx, "q", 10, time.Minute)
	if len(leased) != 1 || leased[0].ID != retry.ID || leased[0].Attempts != 2 {
		t.Fatalf("after recovery leased %+v", leased)
	}
}

// Many concurrent submitters: every acknowledged job is stored, and they
// shared commits (fewer transactions than jobs).
func TestConcurrentSubmitsShareCommits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	before := b.store.commits.Load()
	const writers, each = 16, 50
	var wg sync.WaitGroup
	ids := make(chan string, writers*each)
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				j := newJob("q")
				if _, err := b.store.Submit(ctx, j); err != nil {
					errs <- err
					return
				}
				ids <- j.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("duplicate ID %s", id)
		}
		seen[id] = true
		if _, err := b.store.Get(ctx, id); err != nil {
			t.Fatalf("acknowledged job %s not stored: %v", id, err)
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("stored %d jobs, want %d", len(seen), writers*each)
	}
	commits := b.store.commits.Load() - before
	t.Logf("%d submits in %d commits", writers*each, commits)
	if commits >= int64(writers*each) {
		t.Fatalf("%d commits for %d concurrent submits: no group commit", commits, writers*each)
	}
}

// One bad change in a batch must not take the others down with it.
func TestFailedChangeDoesNotSpoilItsBatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([]error, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%5 == 0 {
				results[i] = b.store.Complete(ctx, fmt.Sprintf("no-such-job-%d", i), nil)
				return
			}
			_, results[i] = b.store.Submit(ctx, newJob("q"))
		}()
	}
	wg.Wait()
	for i, err := range results {
		if i%5 == 0 {
			if !errors.Is(err, worker.ErrNotFound) {
				t.Errorf("change %d: err = %v, want not found", i, err)
			}
		} else if err != nil {
			t.Errorf("submit %d failed: %v", i, err)
		}
	}
	stats, _ := b.store.Stats(ctx)
	if stats["q"].Counts[worker.StateQueued] != 16 {
		t.Fatalf("queued = %d, want 16", stats["q"].Counts[worker.StateQueued])
	}
}

// fileOfFormat is a store file that holds nothing but the format version v.
func fileOfFormat(t *testing.T, v uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keyVersion, binary.BigEndian.AppendUint64(nil, v))
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRefusesNewerFormat(t *testing.T) {
	t.Parallel()
	path := fileOfFormat(t, formatVersion+1)
	_, err := Open(path, nil)
	if err == nil || !strings.Contains(err.Error(), "newer kiln") || !strings.Contains(err.Error(), path) {
		t.Fatalf("open of a newer file: err = %v", err)
	}
}

func TestRefusesFormatTooOldToTakeOver(t *testing.T) {
	t.Parallel()
	path := fileOfFormat(t, upgradableFrom-1)
	_, err := Open(path, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot read") || !strings.Contains(err.Error(), path) {
		t.Fatalf("open of a file in format %d: err = %v", upgradableFrom-1, err)
	}
}

func TestRefusesCorruptFileAndLeavesItAlone(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "queue.db")
	garbage := []byte(strings.Repeat("not a queue store ", 2000))
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, nil)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("open of a corrupt file: err = %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(garbage) {
		t.Fatal("the corrupt file was modified")
	}
}

func TestChangedIsClosedOnStateChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	j := newJob("q")
	if _, err := b.store.Submit(ctx, j); err != nil {
		t.Fatal(err)
	}
	ch := b.store.Changed()
	b.store.Lease(ctx, "q", 1, time.Minute)
	select {
	case <-ch:
	default:
		t.Fatal("Changed channel not closed after a lease")
	}
}
