package rabbitmq

import (
	"encoding/json"
	"strconv"

	"kiln/internal/jsonwrite"
	"kiln/worker"
)

// Job messages and events are written as JSON field by field: what
// encoding/json would write for them, decoded the same by any reader, at a
// fraction of its cost. encoding/json checks and compacts every embedded
// json.RawMessage again on each encode, and a job's payload is encoded
// several times in its life (its message, its queued event, its copies);
// the payload was checked when the job was taken in (the submit's strict
// decode, or the decode of a delivered message), so it is copied as it is.

// appendJob appends j as a JSON object with worker.JobRecord's field names.
func appendJob(b []byte, j *worker.JobRecord) []byte {
	b = append(b, `{"id":`...)
	b = jsonwrite.String(b, j.ID)
	b = append(b, `,"queue":`...)
	b = jsonwrite.String(b, j.Queue)
	b = append(b, `,"type":`...)
	b = jsonwrite.String(b, j.Type)
	b = append(b, `,"payload":`...)
	b = appendRaw(b, j.Payload)
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
	if j.UniqueKey != "" {
		b = append(b, `,"unique_key":`...)
		b = jsonwrite.String(b, j.UniqueKey)
	}
	b = append(b, `,"state":`...)
	b = jsonwrite.String(b, string(j.State))
	if j.LastError != "" {
		b = append(b, `,"last_error":`...)
		b = jsonwrite.String(b, j.LastError)
	}
	if len(j.Errors) > 0 {
		b = append(b, `,"errors":[`...)
		for i, e := range j.Errors {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"attempt":`...)
			b = strconv.AppendInt(b, int64(e.Attempt), 10)
			b = append(b, `,"at":`...)
			b = jsonwrite.Time(b, e.At)
			b = append(b, `,"error":`...)
			b = jsonwrite.String(b, e.Error)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"created_at":`...)
	b = jsonwrite.Time(b, j.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = jsonwrite.Time(b, j.UpdatedAt)
	if !j.FinishedAt.IsZero() {
		b = append(b, `,"finished_at":`...)
		b = jsonwrite.Time(b, j.FinishedAt)
	}
	if !j.LeaseUntil.IsZero() {
		b = append(b, `,"lease_until":`...)
		b = jsonwrite.Time(b, j.LeaseUntil)
	}
	if len(j.Result) > 0 {
		b = append(b, `,"result":`...)
		if json.Valid(j.Result) {
			b = append(b, j.Result...)
		} else {
			// A handler's result that is not JSON must not spoil the
			// message of every event sent with it.
			b = jsonwrite.String(b, string(j.Result))
		}
	}
	if j.CancelRequested {
		b = append(b, `,"cancel_requested":true`...)
	}
	if j.Parent != "" {
		b = append(b, `,"parent":`...)
		b = jsonwrite.String(b, j.Parent)
	}
	if len(j.Children) > 0 {
		b = append(b, `,"children":[`...)
		for i, c := range j.Children {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonwrite.String(b, c)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendEvent appends e as a JSON object with event's field names.
func appendEvent(b []byte, e *event) []byte {
	b = append(b, `{"kind":`...)
	b = jsonwrite.String(b, e.Kind)
	b = append(b, `,"host":`...)
	b = jsonwrite.String(b, e.Host)
	if e.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, e.Seq, 10)
	}
	if e.Gen != 0 {
		b = append(b, `,"gen":`...)
		b = strconv.AppendInt(b, int64(e.Gen), 10)
	}
	if e.Copy != 0 {
		b = append(b, `,"copy":`...)
		b = strconv.AppendUint(b, e.Copy, 10)
	}
	if e.Job != nil {
		b = append(b, `,"job":`...)
		b = appendJob(b, e.Job)
	}
	if e.ID != "" {
		b = append(b, `,"id":`...)
		b = jsonwrite.String(b, e.ID)
	}
	if e.Queue != "" {
		b = append(b, `,"queue":`...)
		b = jsonwrite.String(b, e.Queue)
	}
	if e.From != "" {
		b = append(b, `,"from":`...)
		b = jsonwrite.String(b, string(e.From))
	}
	if e.Marker != "" {
		b = append(b, `,"marker":`...)
		b = jsonwrite.String(b, e.Marker)
	}
	return append(b, '}')
}

// appendRaw appends JSON that was checked when it was taken in; nothing
// is null.
func appendRaw(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}
