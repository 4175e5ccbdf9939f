package local

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"kiln/worker"
)

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 123456789)
	j := &worker.JobRecord{
		ID: "01ABC", Queue: "images", Type: "image", Payload: json.RawMessage(`{"input":"/x.jpg"}`),
		Priority: 7, RunAt: now, Attempts: 2, MaxAttempts: 5, Timeout: worker.Duration(time.Minute),
		UniqueKey: "k", State: worker.StateRetrying, LastError: "boom",
		Errors:    []worker.AttemptError{{Attempt: 1, At: now, Error: "bang"}, {Attempt: 2, At: now.Add(time.Second), Error: "boom"}},
		CreatedAt: now, UpdatedAt: now.Add(time.Second), LeaseUntil: now.Add(time.Hour),
		Result: json.RawMessage(`{"ok":1}`), CancelRequested: true,
	}
	got, err := decodeJob(encodeJob(j))
	if err != nil {
		t.Fatal(err)
	}
	got.Payload = j.Payload // stored apart, in the payloads bucket
	if !reflect.DeepEqual(got, j) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, j)
	}
	enc := encodeJob(j)
	for n := 0; n < len(enc); n++ {
		if _, err := decodeJob(enc[:n]); err == nil {
			t.Fatalf("a record cut to %d of %d bytes decoded without error", n, len(enc))
		}
	}
}

// The record of a job in a chain holds its parent and children; cut
// anywhere but where a chainless record ends, it is refused.
func TestRecordRoundTripChain(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	j := &worker.JobRecord{
		ID: "01ABC-1", Queue: "q", Type: "noop", State: worker.StateSucceeded, CreatedAt: now, UpdatedAt: now, FinishedAt: now,
		Parent: "01ABC", Children: []string{"01ABC-1-1", "01ABC-1-2"},
	}
	enc := encodeJob(j)
	got, err := decodeJob(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, j) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, j)
	}
	plain := *j
	plain.Parent, plain.Children = "", nil
	chainless := len(encodeJob(&plain))
	for n := chainless + 1; n < len(enc); n++ {
		if _, err := decodeJob(enc[:n]); err == nil {
			t.Fatalf("a chain record cut to %d of %d bytes decoded without error", n, len(enc))
		}
	}
	if got, err := decodeJob(enc[:chainless]); err != nil || got.Parent != "" || got.Children != nil {
		t.Fatalf("the record without its chain fields: %+v, %v; want the job without parent and children", got, err)
	}
}
