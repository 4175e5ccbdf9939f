package api

import (
	"strconv"
	"time"

	"kiln/internal/jsonwrite"
)

// AppendPlainJSON appends s as json.Marshal writes it, for the answer
// every one-job submit gets: a new job, with no payload (the submitter has
// it), errors, result, children, progress or description yet. It reports
// false, having appended nothing, for anything else, which the caller
// then hands to encoding/json. Reflection over the job's twenty fields was
// a twentieth of kilnd's CPU at thousands of submits a second.
func (s *Submitted) AppendPlainJSON(b []byte) ([]byte, bool) {
	j := &s.Job
	if len(j.Payload) != 0 || len(j.Errors) != 0 || len(j.Result) != 0 || len(j.Children) != 0 || j.Progress != nil || j.Description != nil {
		return b, false
	}
	for _, t := range [...]time.Time{j.RunAt, j.CreatedAt, j.UpdatedAt, j.FinishedAt} {
		// encoding/json refuses years it cannot write in RFC 3339.
		if y := t.Year(); y < 0 || y > 9999 {
			return b, false
		}
	}
	b = append(b, `{"id":`...)
	b = jsonwrite.String(b, j.ID)
	b = append(b, `,"queue":`...)
	b = jsonwrite.String(b, j.Queue)
	b = append(b, `,"type":`...)
	b = jsonwrite.String(b, j.Type)
	b = append(b, `,"priority":`...)
	b = strconv.AppendInt(b, int64(j.Priority), 10)
	b = append(b, `,"run_at":`...)
	b = jsonwrite.Time(b, j.RunAt)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(j.Attempts), 10)
	b = append(b, `,"max_attempts":`...)
	b = strconv.AppendInt(b, int64(j.MaxAttempts), 10)
	if j.Timeout != 0 {
		b = append(b, `,"timeout":`...)
		b = jsonwrite.String(b, j.Timeout.Std().String())
	}
	b = appendOptionalString(b, `,"unique_key":`, j.UniqueKey)
	b = append(b, `,"state":`...)
	b = jsonwrite.String(b, string(j.State))
	b = appendOptionalString(b, `,"last_error":`, j.LastError)
	b = append(b, `,"created_at":`...)
	b = jsonwrite.Time(b, j.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = jsonwrite.Time(b, j.UpdatedAt)
	if !j.FinishedAt.IsZero() {
		b = append(b, `,"finished_at":`...)
		b = jsonwrite.Time(b, j.FinishedAt)
	}
	b = appendOptionalString(b, `,"parent":`, j.Parent)
	if s.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, '}'), true
}

// appendOptionalString writes key and v, a field that omitempty leaves
// out when v is "".
func appendOptionalString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return jsonwrite.String(append(b, key...), v)
}
