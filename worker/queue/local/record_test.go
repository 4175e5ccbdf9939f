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
