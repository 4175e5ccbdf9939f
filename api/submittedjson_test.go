package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"kiln/kilntype"
)

// sameAsMarshal says whether got is what json.Marshal writes for s.
func sameAsMarshal(t *testing.T, got []byte, s *Submitted) (bool, string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		return false, fmt.Sprintf("json.Marshal refuses it: %v", err)
	}
	if !bytes.Equal(got, want) {
		return false, fmt.Sprintf("\n got %s\nwant %s", got, want)
	}
	return true, ""
}

func newSubmitted() *Submitted {
	now := time.Date(2026, 12, 3, 14, 5, 6, 789012345, time.UTC)
	return &Submitted{Job: Job{
		ID: "01KBM7ZQ3X9T4V2N8C6R5W1Y0H", Queue: "default", Type: "noop", Priority: 0,
		RunAt: now, MaxAttempts: 3, State: kilntype.State("queued"), CreatedAt: now, UpdatedAt: now,
	}}
}

func TestSubmitted_AppendPlainJSON(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no zone data: %v", err)
	}
	cases := map[string]func(s *Submitted){
		"a new job": func(*Submitted) {},
		"duplicate": func(s *Submitted) { s.Duplicate = true; s.State = "running"; s.Attempts = 1 },
		"every plain field": func(s *Submitted) {
			s.Priority = 1000
			s.Timeout = kilntype.Duration(90 * time.Second)
			s.UniqueKey = "a.jpg"
			s.LastError = "it failed: 42"
			s.Parent = "01KBM7ZQ3X9T4V2N8C6R5W1Y0G"
		},
		"negative priority":  func(s *Submitted) { s.Priority = -3 },
		"finished":           func(s *Submitted) { s.FinishedAt = s.CreatedAt.Add(time.Second); s.State = "succeeded" },
		"a zone with offset": func(s *Submitted) { s.RunAt = s.RunAt.In(paris); s.CreatedAt = s.CreatedAt.In(paris) },
		"whole seconds":      func(s *Submitted) { s.RunAt = s.RunAt.Truncate(time.Second) },
		"zero run_at":        func(s *Submitted) { s.RunAt = time.Time{} },
		"timeout of hours":   func(s *Submitted) { s.Timeout = kilntype.Duration(26*time.Hour + 3*time.Millisecond) },
		"strings to escape": func(s *Submitted) {
			s.UniqueKey = `a"b\c`
			s.Queue = "a<b>&"
			s.LastError = "é\n\u2028\x00"
			s.Parent = "\xff"
		},
	}
	for name, change := range cases {
		s := newSubmitted()
		change(s)
		got, ok := s.AppendPlainJSON(nil)
		if !ok {
			t.Errorf("%s: not taken by the plain encoder", name)
			continue
		}
		if ok, why := sameAsMarshal(t, got, s); !ok {
			t.Errorf("%s: %s", name, why)
		}
	}
}

// What the plain encoder does not write, it leaves whole to encoding/json.
func TestSubmitted_AppendPlainJSONLeavesTheRest(t *testing.T) {
	t.Parallel()
	cases := map[string]func(s *Submitted){
		"a payload":         func(s *Submitted) { s.Payload = json.RawMessage(`{"a":1}`) },
		"errors":            func(s *Submitted) { s.Errors = []kilntype.AttemptError{{Attempt: 1, Error: "x"}} },
		"a result":          func(s *Submitted) { s.Result = json.RawMessage(`{}`) },
		"children":          func(s *Submitted) { s.Children = []string{"c"} },
		"progress":          func(s *Submitted) { s.Progress = &kilntype.Progress{} },
		"a description":     func(s *Submitted) { s.Description = &JobDescription{Summary: "s"} },
		"a year past 9999":  func(s *Submitted) { s.RunAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"a year before one": func(s *Submitted) { s.CreatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	for name, change := range cases {
		s := newSubmitted()
		change(s)
		if got, ok := s.AppendPlainJSON([]byte("kept")); ok || string(got) != "kept" {
			t.Errorf("%s: plain encoder said %v and left %q, want false and the buffer untouched", name, ok, got)
		}
	}
}

// Strings of any bytes: what the plain encoder takes, it writes as
// encoding/json does.
func FuzzSubmittedAppendPlainJSON(f *testing.F) {
	f.Add("01KBM7ZQ3X9T4V2N8C6R5W1Y0H", "default", "noop", "", "", int64(0), int64(0))
	f.Add("id", "q<", "t&", "k\"", "err\\", int64(-1), int64(1<<40))
	f.Add("é", "\u2028", "\x00", "a b", "x", int64(5e9), int64(-5e9))
	f.Fuzz(func(t *testing.T, id, queue, kind, key, lastError string, timeout, offset int64) {
		s := newSubmitted()
		s.ID, s.Queue, s.Type, s.UniqueKey, s.LastError = id, queue, kind, key, lastError
		s.Timeout = kilntype.Duration(timeout)
		s.RunAt = s.RunAt.Add(time.Duration(offset))
		got, ok := s.AppendPlainJSON(nil)
		if !ok {
			return
		}
		if ok, why := sameAsMarshal(t, got, s); !ok {
			t.Fatal(why)
		}
	})
}
