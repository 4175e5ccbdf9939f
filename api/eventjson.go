package api

import (
	"encoding/json"
	"strconv"
	"time"
)

// AppendJSON appends e as json.Marshal writes it, without its reflection:
// an event stream writes one of these for every change of every job.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, e.ID, 10)
	b = append(b, `,"time":`...)
	b = appendJSONTime(b, e.Time)
	b = append(b, `,"job":`...)
	b = appendJSONString(b, e.Job)
	b = append(b, `,"queue":`...)
	b = appendJSONString(b, e.Queue)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, string(e.State))
	if e.From != "" {
		b = append(b, `,"from":`...)
		b = appendJSONString(b, string(e.From))
	}
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(e.Attempt), 10)
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, e.Error)
	}
	return append(b, '}')
}

// appendJSONString appends s quoted; what needs escaping (rare in IDs,
// queue names and states) takes encoding/json's own escaping.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON does. A year past
// 9999, which MarshalJSON refuses, is written all the same, so that the
// event stays readable.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
