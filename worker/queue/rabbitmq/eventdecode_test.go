package rabbitmq

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

// eventSamples are messages of events as the event writers write them.
func eventSamples() [][]byte {
	j := sampleJob()
	lean := *j
	lean.Payload, lean.Errors, lean.Result, lean.Children = nil, nil, nil, nil
	odd := *j
	odd.LastError, odd.Queue = "quote \" backslash \\ newline \n tab \t \u2028 é \xff", "ünïcode"
	odd.Errors = []worker.AttemptError{}
	msgs := [][]*event{
		{{Kind: evJob, Host: "h/1/ab", Seq: 4, Gen: 2, Copy: 3, Job: j, From: worker.StateRunning}},
		{{Kind: evJob, Host: "h", Seq: 1, Gen: 1, Job: &lean}, {Kind: evCancel, Host: "h", Seq: 2, Gen: 1, Job: &odd}},
		{{Kind: evPurge, Host: "h", ID: "01M8"}, {Kind: evPause, Host: "h", Queue: "q"}},
		{{Kind: evSync, Host: "h", Marker: "h#3"}},
	}
	var out [][]byte
	for _, evs := range msgs {
		out = append(out, eventsMessages("h", evs)[0].Body)
	}
	return append(out, []byte(`[]`), []byte(` [ {"kind":"job" , "job":{"id":"a","payload":null,"errors":[],"children":["a-1"]}} ] `))
}

// What decodeEvents reads directly is what encoding/json reads, for the
// messages kilnd writes.
func TestDecodeEvents_AsEncodingJSON(t *testing.T) {
	t.Parallel()
	for i, body := range eventSamples() {
		mine, err := readEvents(body)
		if err != nil {
			t.Fatalf("message %d is not read directly: %v\n%s", i, err, body)
		}
		var std []*event
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(mine, std) {
			t.Fatalf("message %d reads as\n%+v\nencoding/json reads\n%+v", i, mine, std)
		}
	}
	// What it does not take goes to encoding/json, errors included.
	for _, body := range []string{`[{"Kind":"job"}]`, `[{"kind":null}]`, `null`, `[{"kind":"job"`, `[{"seq":-1}]`} {
		got, err := decodeEvents([]byte(body))
		var std []*event
		serr := json.Unmarshal([]byte(body), &std)
		if (err == nil) != (serr == nil) || !reflect.DeepEqual(got, std) {
			t.Errorf("%s: %+v, %v; encoding/json %+v, %v", body, got, err, std, serr)
		}
	}
}

// Whatever the bytes, a message read directly reads the same with
// encoding/json; otherwise the direct reading gives up.
func FuzzDecodeEvents(f *testing.F) {
	for _, b := range eventSamples() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		mine, err := readEvents(body)
		if err != nil {
			return
		}
		var std []*event
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("read directly, but encoding/json refuses it (%v):\n%q", err, body)
		}
		if !reflect.DeepEqual(mine, std) {
			t.Fatalf("%q reads as\n%+v\nencoding/json reads\n%+v", body, mine, std)
		}
	})
}

// Events go out grouped by routing key, and a job's events in the order
// they were asked for, whatever other jobs' events came between.
func TestEventGroups_KeepEachJobsOrder(t *testing.T) {
	t.Parallel()
	ev := func(id string, state worker.State) *event {
		return &event{Kind: evJob, Job: &worker.JobRecord{ID: id, Queue: "q", State: state}}
	}
	in := []*event{
		ev("w", worker.StateSucceeded), ev("x", worker.StateRunning), ev("y", worker.StateQueued),
		ev("x", worker.StateSucceeded), ev("y", worker.StateRunning), {Kind: evPause, Queue: "q"}, ev("x", worker.StateQueued),
	}
	var got []string
	for _, g := range eventGroups(in) {
		var ids []string
		for _, e := range g.evs {
			ids = append(ids, e.jobID())
		}
		got = append(got, g.key+":"+strings.Join(ids, ","))
	}
	want := []string{"q.succeeded:w", "q.running:x", "q.queued:y", "control.pause:", "q.succeeded:x", "q.running:y", "q.queued:x"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("groups %v, want %v", got, want)
	}
	pos := map[string]int{}
	for i, g := range got {
		for _, id := range strings.Split(strings.SplitN(g, ":", 2)[1], ",") {
			if id == "" {
				continue
			}
			if p, ok := pos[id]; ok && p > i {
				t.Fatalf("a later event of %s goes out first", id)
			}
			pos[id] = i
		}
	}
}

// A job message's body, as kiln writes it or as a producer's plain
// object, is read directly, to what encoding/json reads; anything else
// goes to encoding/json, errors included.
func TestDecodeJobBody_AsEncodingJSON(t *testing.T) {
	t.Parallel()
	for i, body := range jobBodySamples() {
		var mine worker.JobRecord
		if err := readJobBody(body, &mine); err != nil {
			t.Fatalf("body %d is not read directly: %v\n%s", i, err, body)
		}
		var std worker.JobRecord
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(mine, std) {
			t.Fatalf("body %d reads as\n%+v\nencoding/json reads\n%+v", i, mine, std)
		}
	}
	for _, body := range []string{`{"Type":"x"}`, `{"type":null}`, `null`, `{"type":"x"`, `{"type":"x"} {}`, `{"type":"x","payload":{"a":}}`, `[]`} {
		var got, std worker.JobRecord
		err := decodeJobBody([]byte(body), &got)
		serr := json.Unmarshal([]byte(body), &std)
		if (err == nil) != (serr == nil) || !reflect.DeepEqual(got, std) {
			t.Errorf("%s: %+v, %v; encoding/json %+v, %v", body, got, err, std, serr)
		}
	}
}

// jobBodySamples are job messages as kiln publishes them and as a
// producer writes them.
func jobBodySamples() [][]byte {
	j := &worker.JobRecord{ID: "01ABC", Queue: "q", Type: "image", Payload: json.RawMessage(`{"input":"/srv/in/a b.jpg","n":[1,2.5,true,null]}`),
		Priority: 5, MaxAttempts: 3, RunAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Errors: []worker.AttemptError{{Attempt: 1, At: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), Error: "broken"}}, LastError: "broken", UniqueKey: "k"}
	msg := jobMessage(j, 1, 1, 1)
	return [][]byte{
		msg.Body,
		[]byte(`{"type":"noop","payload":{"n":1}}`),
		[]byte(` { "type" : "noop" , "payload" : "x" } `),
		[]byte(`{}`),
	}
}

// Whatever the bytes, a body read directly reads the same with
// encoding/json; otherwise the direct reading gives up.
func FuzzDecodeJobBody(f *testing.F) {
	for _, b := range jobBodySamples() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var mine worker.JobRecord
		if readJobBody(body, &mine) != nil {
			return
		}
		var std worker.JobRecord
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("read directly, but encoding/json refuses it (%v):\n%q", err, body)
		}
		if !reflect.DeepEqual(mine, std) {
			t.Fatalf("%q reads as\n%+v\nencoding/json reads\n%+v", body, mine, std)
		}
	})
}
