package api

import "kiln/kilntype"

// StreamPath is the path of the streaming submit: POST a body of
// newline-delimited StreamSubmit objects, read a body of newline-delimited
// StreamAck objects, both on the one HTTP/1.1 request, the answers arriving
// while the request is still being sent.
const StreamPath = Version + "/jobs/stream"

// StreamSubmit is one line of a streaming submit: a client-chosen tag that
// its answer carries back, and the fields of a SubmitRequest. Unknown
// fields are refused, for that line only.
type StreamSubmit struct {
	Tag string `json:"tag"`
	SubmitRequest
}

// StreamAck is one line of a streaming submit's answer. A line is answered
// once its job is durable (ID set), or refused (Error set, with the HTTP
// status the one-job endpoint would have answered and the request line's
// number, counted from 1, in case its tag could not be read). Answers come
// in the order jobs become durable, not necessarily the order they were
// sent: match them by tag.
type StreamAck struct {
	Tag       string         `json:"tag"`
	ID        string         `json:"id,omitempty"`
	Queue     string         `json:"queue,omitempty"`
	State     kilntype.State `json:"state,omitempty"`
	Duplicate bool           `json:"duplicate,omitempty"`
	Error     string         `json:"error,omitempty"`
	Status    int            `json:"status,omitempty"`
	Line      int64          `json:"line,omitempty"`
}
