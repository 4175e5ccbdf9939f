package api

import (
	"strconv"

	"kiln/internal/jsonwrite"
)

// AppendJSON appends e as json.Marshal writes it, without its reflection:
// an event stream writes one of these for every change of every job.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, e.ID, 10)
	b = append(b, `,"time":`...)
	b = jsonwrite.Time(b, e.Time)
	b = append(b, `,"job":`...)
	b = jsonwrite.String(b, e.Job)
	b = append(b, `,"queue":`...)
	b = jsonwrite.String(b, e.Queue)
	b = append(b, `,"type":`...)
	b = jsonwrite.String(b, e.Type)
	b = append(b, `,"state":`...)
	b = jsonwrite.String(b, string(e.State))
	if e.From != "" {
		b = append(b, `,"from":`...)
		b = jsonwrite.String(b, string(e.From))
	}
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(e.Attempt), 10)
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = jsonwrite.String(b, e.Error)
	}
	return append(b, '}')
}
