package rabbitmq

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// queuedEvents is n queued events whose payloads are payloadBytes each.
func queuedEvents(n, payloadBytes int) []*event {
	evs := make([]*event, n)
	for i := range evs {
		j := sampleJob()
		j.ID = fmt.Sprintf("job-%04d", i)
		j.Payload = json.RawMessage(`"` + strings.Repeat("x", payloadBytes) + `"`)
		evs[i] = &event{Kind: evJob, Host: "h", Seq: uint64(i + 1), Gen: 1, Job: j}
	}
	return evs
}

// checkSplit decodes msgs and checks that they hold want's jobs, in order.
func checkSplit(t *testing.T, msgs [][]byte, want []*event) {
	t.Helper()
	var got []string
	for i, body := range msgs {
		evs, err := decodeEvents(body)
		if err != nil {
			t.Fatalf("message %d of %d: decode: %v", i, len(msgs), err)
		}
		if len(evs) == 0 || len(evs) > maxEventsPerMessage {
			t.Errorf("message %d holds %d events, want 1..%d", i, len(evs), maxEventsPerMessage)
		}
		for _, e := range evs {
			got = append(got, e.Job.ID)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("the messages hold %d events, want %d", len(got), len(want))
	}
	for i, e := range want {
		if got[i] != e.Job.ID {
			t.Fatalf("event %d is job %s, want %s (order lost)", i, got[i], e.Job.ID)
		}
	}
}

func bodies(t *testing.T, evs []*event) [][]byte {
	t.Helper()
	var out [][]byte
	for _, m := range eventsMessages("h", evs) {
		out = append(out, m.Body)
	}
	return out
}

// Small events go maxEventsPerMessage to a message.
func TestEventsMessages_SplitsByCount(t *testing.T) {
	t.Parallel()
	evs := queuedEvents(2*maxEventsPerMessage+88, 10)
	msgs := bodies(t, evs)
	if len(msgs) != 3 {
		t.Errorf("%d events went into %d messages, want 3", len(evs), len(msgs))
	}
	checkSplit(t, msgs, evs)
}

// A full message of queued events with 60 KiB payloads would be about
// 15 MiB, close to RabbitMQ 4.0's 16 MiB refusal: no message passes
// maxEventMessageBytes.
func TestEventsMessages_SplitsByBytes(t *testing.T) {
	t.Parallel()
	evs := queuedEvents(maxEventsPerMessage, 60<<10)
	msgs := bodies(t, evs)
	for i, m := range msgs {
		if len(m) > maxEventMessageBytes {
			t.Errorf("message %d is %d bytes, over %d", i, len(m), maxEventMessageBytes)
		}
	}
	if len(msgs) < 4 {
		t.Errorf("%d events of 60 KiB went into %d messages, want at least 4", len(evs), len(msgs))
	}
	checkSplit(t, msgs, evs)
}

// An event bigger than the bound on its own still goes out, alone.
func TestEventsMessages_OversizeEventAlone(t *testing.T) {
	t.Parallel()
	evs := append(queuedEvents(2, 10), queuedEvents(1, maxEventMessageBytes)...)
	evs[2].Job.ID = "big"
	evs = append(evs, queuedEvents(1, 10)...)
	evs[3].Job.ID = "after"
	msgs := bodies(t, evs)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3 (the small ones, the big one alone, the one after)", len(msgs))
	}
	checkSplit(t, msgs, evs)
}
