package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"kiln/api"
	"kiln/kilntype"
)

// sameAnswer says whether got, the plain encoder's text, tells what
// writeJSON would write for s: one line, the same JSON value, the same
// fields in the same order. (Bytes may differ where encoding/json
// escapes what need not be escaped, such as < for HTML.)
func sameAnswer(t *testing.T, got []byte, s *api.Submitted) (bool, string) {
	t.Helper()
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(s); err != nil {
		return false, fmt.Sprintf("encoding/json refuses it: %v", err)
	}
	if !bytes.HasSuffix(got, []byte("}\n")) || bytes.Count(got, []byte("\n")) != 1 {
		return false, fmt.Sprintf("not one line: %q", got)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return false, fmt.Sprintf("not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal(want.Bytes(), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		return false, fmt.Sprintf("\n got %s\nwant %s", got, want.Bytes())
	}
	if gk, wk := topLevelKeys(t, got), topLevelKeys(t, want.Bytes()); !slices.Equal(gk, wk) {
		return false, fmt.Sprintf("fields %v, want %v", gk, wk)
	}
	return true, ""
}

func topLevelKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func newSubmitted() *api.Submitted {
	now := time.Date(2026, 12, 3, 14, 5, 6, 789012345, time.UTC)
	return &api.Submitted{Job: api.Job{
		ID: "01KBM7ZQ3X9T4V2N8C6R5W1Y0H", Queue: "default", Type: "noop", Priority: 0,
		RunAt: now, MaxAttempts: 3, State: kilntype.State("queued"), CreatedAt: now, UpdatedAt: now,
	}}
}

func TestAppendSubmittedPlain_MatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no zone data: %v", err)
	}
	cases := map[string]func(s *api.Submitted){
		"a new job": func(*api.Submitted) {},
		"duplicate": func(s *api.Submitted) { s.Duplicate = true; s.State = "running"; s.Attempts = 1 },
		"every plain field": func(s *api.Submitted) {
			s.Priority = 1000
			s.Timeout = kilntype.Duration(90 * time.Second)
			s.UniqueKey = "a.jpg"
			s.LastError = "it failed: 42"
			s.Parent = "01KBM7ZQ3X9T4V2N8C6R5W1Y0G"
		},
		"negative priority":  func(s *api.Submitted) { s.Priority = -3 },
		"finished":           func(s *api.Submitted) { s.FinishedAt = s.CreatedAt.Add(time.Second); s.State = "succeeded" },
		"a zone with offset": func(s *api.Submitted) { s.RunAt = s.RunAt.In(paris); s.CreatedAt = s.CreatedAt.In(paris) },
		"whole seconds":      func(s *api.Submitted) { s.RunAt = s.RunAt.Truncate(time.Second) },
		"zero run_at":        func(s *api.Submitted) { s.RunAt = time.Time{} },
		"timeout of hours":   func(s *api.Submitted) { s.Timeout = kilntype.Duration(26*time.Hour + 3*time.Millisecond) },
		"strings to escape": func(s *api.Submitted) {
			s.UniqueKey = `a"b\c`
			s.Queue = "a<b>&"
			s.LastError = "é\n\u2028\x00"
			s.Parent = "\xff"
		},
	}
	for name, change := range cases {
		s := newSubmitted()
		change(s)
		got, ok := appendSubmittedPlain(nil, s)
		if !ok {
			t.Errorf("%s: not taken by the plain encoder", name)
			continue
		}
		if ok, why := sameAnswer(t, got, s); !ok {
			t.Errorf("%s: %s", name, why)
		}
	}
}

// What the plain encoder does not write, it leaves whole to encoding/json.
func TestAppendSubmittedPlain_LeavesTheRest(t *testing.T) {
	t.Parallel()
	cases := map[string]func(s *api.Submitted){
		"a payload":         func(s *api.Submitted) { s.Payload = json.RawMessage(`{"a":1}`) },
		"errors":            func(s *api.Submitted) { s.Errors = []kilntype.AttemptError{{Attempt: 1, Error: "x"}} },
		"a result":          func(s *api.Submitted) { s.Result = json.RawMessage(`{}`) },
		"children":          func(s *api.Submitted) { s.Children = []string{"c"} },
		"progress":          func(s *api.Submitted) { s.Progress = &kilntype.Progress{} },
		"a description":     func(s *api.Submitted) { s.Description = &api.JobDescription{Summary: "s"} },
		"a year past 9999":  func(s *api.Submitted) { s.RunAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"a year before one": func(s *api.Submitted) { s.CreatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	for name, change := range cases {
		s := newSubmitted()
		change(s)
		if got, ok := appendSubmittedPlain([]byte("kept"), s); ok || string(got) != "kept" {
			t.Errorf("%s: plain encoder said %v and left %q, want false and the buffer untouched", name, ok, got)
		}
	}
}

// Strings of any bytes: what the plain encoder takes, it writes as
// encoding/json does.
func FuzzAppendSubmittedPlain(f *testing.F) {
	f.Add("01KBM7ZQ3X9T4V2N8C6R5W1Y0H", "default", "noop", "", "", int64(0), int64(0))
	f.Add("id", "q<", "t&", "k\"", "err\\", int64(-1), int64(1<<40))
	f.Add("é", "\u2028", "\x00", "a b", "x", int64(5e9), int64(-5e9))
	f.Fuzz(func(t *testing.T, id, queue, kind, key, lastError string, timeout, offset int64) {
		s := newSubmitted()
		s.ID, s.Queue, s.Type, s.UniqueKey, s.LastError = id, queue, kind, key, lastError
		s.Timeout = kilntype.Duration(timeout)
		s.RunAt = s.RunAt.Add(time.Duration(offset))
		got, ok := appendSubmittedPlain(nil, s)
		if !ok {
			return
		}
		if ok, why := sameAnswer(t, got, s); !ok {
			t.Fatal(why)
		}
	})
}
