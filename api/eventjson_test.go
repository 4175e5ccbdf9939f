package api

import (
	"encoding/json"
	"testing"
	"time"

	"kiln/kilntype"
)

// AppendJSON writes what json.Marshal writes, escapes, zones and empty
// fields included.
func TestEventAppendJSONIsMarshal(t *testing.T) {
	zone := time.FixedZone("", 5*3600+30*60)
	events := []Event{
		{},
		{ID: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), Job: "01JABC", Queue: "images", Type: "image", State: kilntype.StateQueued, Attempt: 0},
		{ID: 1 << 63, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, zone), Job: "j", Queue: "q", Type: "noop", State: kilntype.StateRetrying, From: kilntype.StateRunning, Attempt: 3, Error: "exit 1: \"bad\" <b>&\\ \n\t\x01 é \u2028 \xff"},
		{ID: 7, Time: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), Job: "ü", State: kilntype.StateDead, Attempt: -1, Error: "x"},
	}
	for i := range events {
		want, err := json.Marshal(&events[i])
		got := events[i].AppendJSON([]byte("prefix"))
		if err != nil {
			// json.Marshal refuses a year past 9999; AppendJSON still
			// writes JSON.
			if !json.Valid(got[len("prefix"):]) {
				t.Errorf("event %d: %s is not JSON", i, got)
			}
			continue
		}
		if string(got) != "prefix"+string(want) {
			t.Errorf("event %d:\n got %s\nwant prefix%s", i, got, want)
		}
	}
}
