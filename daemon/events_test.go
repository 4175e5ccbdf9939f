package daemon

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"kiln/api"
	"kiln/worker"
)

// A job event written with its own encoder reads as writeSSE writes it.
func TestJobSSEIsWriteSSE(t *testing.T) {
	e := api.Event{ID: 42, Time: time.Now(), Job: "01J", Queue: "q", Type: "noop", State: worker.StateDead, From: worker.StateRunning, Attempt: 2, Error: "boom <b>\n"}
	var got, want bytes.Buffer
	got.WriteString("before\n")
	want.WriteString("before\n")
	writeJobSSE(&got, &e)
	writeSSE(&want, strconv.FormatUint(e.ID, 10), api.EventTypeJob, &e)
	if got.String() != want.String() {
		t.Fatalf("got %q\nwant %q", got.String(), want.String())
	}
}
