package local

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"kiln/worker"
)

// A group gives back its events in order with their IDs, records of any
// length included, and a cut group is refused, not misread.
func TestEventGroup_RoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, time.Date(2026, 12, 3, 15, 0, 0, 123, time.UTC).UnixNano())
	events := []worker.Event{
		{Time: now, Job: "a", Queue: "q", Type: "noop", State: worker.StateQueued},
		{Time: now.Add(time.Second), Job: "a", Queue: "q", Type: "noop", State: worker.StateDead, From: worker.StateRunning, Attempt: 3, Error: strings.Repeat("e", 20000)},
		{Time: now.Add(2 * time.Second), Job: "b", Queue: "q", Type: "noop", State: worker.StateRunning, From: worker.StateQueued, Attempt: 1},
	}
	for i := range events {
		events[i].ID = uint64(40 + i)
	}
	var g eventGroup
	value := g.encode(events)
	var got []worker.Event
	err := eachStoredEvent(40, value, func(id uint64, rec, _ []byte) (bool, error) {
		e, err := decodeEvent(rec)
		if err != nil {
			return false, err
		}
		e.ID = id
		got = append(got, *e)
		return true, nil
	})
	if err != nil || len(got) != len(events) {
		t.Fatalf("read back %d events, err %v; want %d", len(got), err, len(events))
	}
	for i := range events {
		want := events[i]
		want.ID = uint64(40 + i)
		if got[i] != want {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], want)
		}
	}
	// Trimming cuts through the group: what is left reads as the events
	// after the cut, under the ID of the first of them.
	gone, rest, err := trimGroup(40, value, func(id uint64, _ []byte) bool { return id < 41 }, 10)
	if err != nil || gone != 1 || rest == nil {
		t.Fatalf("trimGroup of the oldest: gone %d, rest %v, err %v", gone, rest != nil, err)
	}
	var left []uint64
	_ = eachStoredEvent(41, rest, func(id uint64, rec, _ []byte) (bool, error) {
		e, err := decodeEvent(rec)
		if err != nil || e.Job != events[id-40].Job || e.State != events[id-40].State {
			t.Errorf("event %d after the trim: %+v, %v", id, e, err)
		}
		left = append(left, id)
		return true, nil
	})
	if len(left) != 2 || left[0] != 41 || left[1] != 42 {
		t.Errorf("after the trim the group holds %v, want [41 42]", left)
	}
	if gone, rest, _ := trimGroup(40, value, func(uint64, []byte) bool { return true }, 2); gone != 2 || rest == nil {
		t.Errorf("a limit of 2: gone %d, rest %v", gone, rest != nil)
	}
	if gone, rest, _ := trimGroup(40, value, func(uint64, []byte) bool { return true }, 10); gone != 3 || rest != nil {
		t.Errorf("all past: gone %d, rest %v", gone, rest != nil)
	}
	if gone, rest, _ := trimGroup(40, value, func(uint64, []byte) bool { return false }, 10); gone != 0 || len(rest) != len(value) {
		t.Errorf("none past: gone %d, rest of %d bytes", gone, len(rest))
	}
	if err := eachStoredEvent(40, value[:len(value)-1], func(uint64, []byte, []byte) (bool, error) { return true, nil }); !errors.Is(err, errBadEventGroup) {
		t.Errorf("a cut group: %v, want %v", err, errBadEventGroup)
	}
}

// A store of format 4, whose events were stored one by one, is taken over:
// its events read on, new ones follow with the next IDs, and retention
// trims the old and the new alike.
func TestOpen_UpgradesFormat4Events(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, 4)); err != nil {
			return err
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketEvents)
		for id := uint64(1); id <= 3; id++ {
			e := worker.Event{Time: old.Add(time.Duration(id) * time.Second), Job: "old", Queue: "q", Type: "noop", State: worker.StateQueued}
			if err := b.Put(binary.BigEndian.AppendUint64(nil, id), appendEventRecord(nil, &e)); err != nil {
				return err
			}
		}
		return b.SetSequence(3)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("open a format 4 store: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	jobs := []*worker.JobRecord{newJob("q"), newJob("q")}
	if _, err := s.Submit(ctx, jobs...); err != nil {
		t.Fatal(err)
	}
	page, err := s.eventsOnDisk(0, worker.EventFilter{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	var jobsOf []string
	for _, e := range page.Events {
		ids = append(ids, e.ID)
		jobsOf = append(jobsOf, e.Job)
	}
	if len(ids) != 5 || ids[0] != 1 || ids[4] != 5 || jobsOf[2] != "old" || jobsOf[3] != jobs[0].ID || jobsOf[4] != jobs[1].ID || page.FirstKept != 1 || page.Last != 5 {
		t.Fatalf("events after the upgrade: IDs %v of jobs %v, first kept %d, last %d", ids, jobsOf, page.FirstKept, page.Last)
	}
	// From after an old event and from inside the new group.
	for _, after := range []uint64{2, 4} {
		p, err := s.eventsOnDisk(after, worker.EventFilter{}, 100)
		if err != nil || len(p.Events) != int(5-after) || p.Events[0].ID != after+1 {
			t.Fatalf("events after %d: %+v, %v", after, p.Events, err)
		}
	}
	var version uint64
	if err := s.db.View(func(tx *bbolt.Tx) error {
		version = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyVersion))
		return nil
	}); err != nil || version != formatVersion {
		t.Fatalf("stored version %d (%v), want %d", version, err, formatVersion)
	}
	s.SetEventRetention(func() worker.EventRetention { return worker.EventRetention{Keep: 30 * time.Minute} })
	if err := s.TrimEvents(ctx); err != nil {
		t.Fatal(err)
	}
	page, err = s.eventsOnDisk(0, worker.EventFilter{}, 100)
	if err != nil || page.FirstKept != 4 || len(page.Events) != 2 {
		t.Fatalf("after trimming the hour-old events: first kept %d, %d events, %v", page.FirstKept, len(page.Events), err)
	}
}

// The count cap holds exactly when one commit's group straddles it: the
// group is stored again without its oldest events.
func TestEventRetention_CutsThroughAGroup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.store.SetEventRetention(func() worker.EventRetention { return worker.EventRetention{Max: 10} })
	ctx := context.Background()
	jobs := make([]*worker.JobRecord, 25)
	for i := range jobs {
		jobs[i] = newJob("q")
	}
	if _, err := b.store.Submit(ctx, jobs...); err != nil {
		t.Fatal(err)
	}
	for _, read := range []func(after uint64) (worker.EventPage, error){
		func(after uint64) (worker.EventPage, error) {
			return b.store.eventsOnDisk(after, worker.EventFilter{}, 100)
		},
		func(after uint64) (worker.EventPage, error) {
			return b.store.Events(ctx, after, worker.EventFilter{}, 100)
		},
	} {
		page, err := read(0)
		if err != nil || page.FirstKept != 16 || page.Last != 25 || len(page.Events) != 10 || page.Events[0].ID != 16 || page.Events[0].Job != jobs[15].ID {
			t.Fatalf("count cap 10 after one commit of 25 events: first kept %d, last %d, %d events, %v", page.FirstKept, page.Last, len(page.Events), err)
		}
		if page, err := read(20); err != nil || len(page.Events) != 5 || page.Events[0].ID != 21 {
			t.Fatalf("after 20: %+v, %v", page.Events, err)
		}
	}
}
