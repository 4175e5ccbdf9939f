package rabbitmq

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"kiln/worker"
)

// decodeBoth decodes what appendJob and encoding/json wrote for j, with the
// payload and result compacted (appendJob copies them as they are).
func decodeBoth(t *testing.T, j *worker.JobRecord) (mine, std worker.JobRecord) {
	t.Helper()
	a := appendJob(nil, j)
	if !json.Valid(a) {
		t.Fatalf("appendJob wrote invalid JSON: %s", a)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Skipf("encoding/json refuses this job too: %v", err)
	}
	if err := json.Unmarshal(a, &mine); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &std); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*json.RawMessage{&mine.Payload, &std.Payload, &mine.Result, &std.Result} {
		if len(*r) > 0 {
			var c bytes.Buffer
			if err := json.Compact(&c, *r); err != nil {
				t.Fatalf("compact %s: %v", *r, err)
			}
			*r = c.Bytes()
		}
	}
	return mine, std
}

func sampleJob() *worker.JobRecord {
	at := time.Date(2026, 11, 30, 9, 30, 1, 123456789, time.UTC)
	return &worker.JobRecord{
		ID: "01M8NVPRHF6ZQ3N7GCKVTE9CY0", Queue: "images", Type: "image",
		Payload:  json.RawMessage("{ \"pipeline\": \"web\",\n \"input\": \"/srv/é.jpg\" }"),
		Priority: 3, RunAt: at, Attempts: 2, MaxAttempts: 5, Timeout: worker.Duration(90 * time.Second),
		UniqueKey: "k\"1", State: worker.StateDead, LastError: "line 1\nline 2\t\"quoted\" \\ \x01 <b>&",
		Errors:    []worker.AttemptError{{Attempt: 1, At: at, Error: "first"}, {Attempt: 2, At: at.Add(time.Second), Error: "bad \xff byte"}},
		CreatedAt: at, UpdatedAt: at.Add(time.Minute), FinishedAt: at.Add(time.Hour), LeaseUntil: at.Add(2 * time.Hour),
		Result: json.RawMessage(`{"outputs": [1, 2]}`), CancelRequested: true,
		Parent: "01M8NVPRHF6ZQ3N7GCKVTE9CXZ", Children: []string{"01M8NVPRHF6ZQ3N7GCKVTE9CY0-1", "01M8NVPRHF6ZQ3N7GCKVTE9CY0-2"},
	}
}

// appendJob and encoding/json write the same job, whatever its fields.
func TestAppendJob_DecodesAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for name, j := range map[string]*worker.JobRecord{
		"every field": sampleJob(),
		"zero":        {},
		"no payload":  {ID: "a", State: worker.StateQueued, CreatedAt: time.Now()},
	} {
		t.Run(name, func(t *testing.T) {
			mine, std := decodeBoth(t, j)
			if !reflect.DeepEqual(mine, std) {
				t.Errorf("appendJob decodes as\n%+v\nencoding/json as\n%+v", mine, std)
			}
		})
	}
}

// A handler's result that is not JSON (encoding/json refuses to write it)
// is written as a string, so that the message stays readable.
func TestAppendJob_ResultNotJSONBecomesAString(t *testing.T) {
	t.Parallel()
	b := appendJob(nil, &worker.JobRecord{ID: "b", Payload: json.RawMessage(`{}`), Result: json.RawMessage(`not json`)})
	var got struct{ Result string }
	if err := json.Unmarshal(b, &got); err != nil || got.Result != "not json" {
		t.Fatalf("%s: result %q, %v", b, got.Result, err)
	}
}

// An event message decodes into the same events as encoding/json's.
func TestAppendEvent_DecodesAsEncodingJSON(t *testing.T) {
	t.Parallel()
	evs := []*event{
		{Kind: evJob, Host: "h/1/ab", Seq: 4, Gen: 2, Copy: 3, Job: sampleJob()},
		{Kind: evPurge, Host: "h/1/ab", ID: "x"},
		{Kind: evPause, Host: "h", Queue: "images"},
		{Kind: evSync, Host: "h", Marker: "h#probe1"},
	}
	msg := eventsMessages("h", evs)[0]
	mine, err := decodeEvents(msg.Body)
	if err != nil {
		t.Fatalf("decode %s: %v", msg.Body, err)
	}
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	std, err := decodeEvents(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, list := range [][]*event{mine, std} {
		for _, e := range list {
			if e.Job != nil {
				for _, r := range []*json.RawMessage{&e.Job.Payload, &e.Job.Result} {
					var c bytes.Buffer
					json.Compact(&c, *r)
					*r = c.Bytes()
				}
			}
		}
	}
	if !reflect.DeepEqual(mine, std) {
		t.Errorf("event message decodes as\n%+v\nencoding/json's as\n%+v", mine, std)
	}
}

// Any strings a job may carry come back unchanged (or, not being UTF-8,
// as encoding/json turns them).
func FuzzAppendJob(f *testing.F) {
	f.Add("01M8", "images", "line\n\"q\" \\ \x00 \u2028", "bad \xff\xfe", 3)
	f.Add("", "", "", "", 0)
	f.Fuzz(func(t *testing.T, id, queue, lastError, errText string, attempts int) {
		j := sampleJob()
		j.ID, j.Queue, j.LastError, j.Attempts = id, queue, lastError, attempts
		j.Errors[0].Error = errText
		mine, std := decodeBoth(t, j)
		if !reflect.DeepEqual(mine, std) {
			t.Errorf("appendJob decodes as\n%+v\nencoding/json as\n%+v", mine, std)
		}
	})
}
