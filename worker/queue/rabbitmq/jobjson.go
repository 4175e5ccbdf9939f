package rabbitmq

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

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
	b = appendString(b, j.ID)
	b = append(b, `,"queue":`...)
	b = appendString(b, j.Queue)
	b = append(b, `,"type":`...)
	b = appendString(b, j.Type)
	b = append(b, `,"payload":`...)
	b = appendRaw(b, j.Payload)
	b = append(b, `,"priority":`...)
	b = strconv.AppendInt(b, int64(j.Priority), 10)
	b = append(b, `,"run_at":`...)
	b = appendTime(b, j.RunAt)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(j.Attempts), 10)
	b = append(b, `,"max_attempts":`...)
	b = strconv.AppendInt(b, int64(j.MaxAttempts), 10)
	if j.Timeout != 0 {
		b = append(b, `,"timeout":`...)
		b = appendString(b, j.Timeout.Std().String())
	}
	if j.UniqueKey != "" {
		b = append(b, `,"unique_key":`...)
		b = appendString(b, j.UniqueKey)
	}
	b = append(b, `,"state":`...)
	b = appendString(b, string(j.State))
	if j.LastError != "" {
		b = append(b, `,"last_error":`...)
		b = appendString(b, j.LastError)
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
			b = appendTime(b, e.At)
			b = append(b, `,"error":`...)
			b = appendString(b, e.Error)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"created_at":`...)
	b = appendTime(b, j.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, j.UpdatedAt)
	if !j.FinishedAt.IsZero() {
		b = append(b, `,"finished_at":`...)
		b = appendTime(b, j.FinishedAt)
	}
	if !j.LeaseUntil.IsZero() {
		b = append(b, `,"lease_until":`...)
		b = appendTime(b, j.LeaseUntil)
	}
	if len(j.Result) > 0 {
		b = append(b, `,"result":`...)
		if json.Valid(j.Result) {
			b = append(b, j.Result...)
		} else {
			// A handler's result that is not JSON must not spoil the
			// message of every event sent with it.
			b = appendString(b, string(j.Result))
		}
	}
	if j.CancelRequested {
		b = append(b, `,"cancel_requested":true`...)
	}
	if j.Parent != "" {
		b = append(b, `,"parent":`...)
		b = appendString(b, j.Parent)
	}
	if len(j.Children) > 0 {
		b = append(b, `,"children":[`...)
		for i, c := range j.Children {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, c)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendEvent appends e as a JSON object with event's field names.
func appendEvent(b []byte, e *event) []byte {
	b = append(b, `{"kind":`...)
	b = appendString(b, e.Kind)
	b = append(b, `,"host":`...)
	b = appendString(b, e.Host)
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
		b = appendString(b, e.ID)
	}
	if e.Queue != "" {
		b = append(b, `,"queue":`...)
		b = appendString(b, e.Queue)
	}
	if e.From != "" {
		b = append(b, `,"from":`...)
		b = appendString(b, string(e.From))
	}
	if e.Marker != "" {
		b = append(b, `,"marker":`...)
		b = appendString(b, e.Marker)
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

// appendTime appends t as encoding/json does: RFC 3339 with nanoseconds.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; bytes that are not UTF-8 become
// U+FFFD, as encoding/json makes them.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
