package daemon

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"kiln/api"
	"kiln/worker"
)

// maxRunAtPast bounds how far in the past run_at may be: further back is
// more likely a clock or unit mistake than an intent.
const maxRunAtPast = 24 * time.Hour

// buildJob turns a submit request into a job, or names the field that is
// wrong. It checks everything that can be checked before the job is stored,
// the payload by the job's kind, so that nothing doomed is accepted.
func (d *daemon) buildJob(req api.SubmitRequest, now time.Time) (*worker.JobRecord, error) {
	cfg := d.config()
	kind := d.kinds[req.Type]
	switch {
	case req.Type == "":
		return nil, &worker.FieldError{Field: "type", Msg: fmt.Sprintf("is required (known: %s)", strings.Join(sortedKeys(d.kinds), ", "))}
	case kind == nil:
		return nil, &worker.FieldError{Field: "type", Msg: fmt.Sprintf("no job kind %q (known: %s)", req.Type, strings.Join(sortedKeys(d.kinds), ", "))}
	}
	j := &worker.JobRecord{Queue: req.Queue, Type: req.Type, Payload: req.Payload, Priority: req.Priority, UniqueKey: req.UniqueKey, MaxAttempts: req.MaxAttempts}
	if len(j.Payload) == 0 {
		j.Payload = json.RawMessage("{}")
	}
	if len(j.Payload) > worker.MaxPayload {
		return nil, &worker.FieldError{Field: "payload", Msg: fmt.Sprintf("%d bytes is over the %d KiB limit: a job carries a reference (such as a path) to its data, not the data", len(j.Payload), worker.MaxPayload>>10)}
	}
	// The payload is kept and served back byte for byte: bytes that are
	// not UTF-8 would make every listing that holds the job unreadable to
	// a strict JSON client.
	if at := invalidUTF8(j.Payload); at >= 0 {
		return nil, &worker.FieldError{Field: "payload", Msg: fmt.Sprintf("is not valid UTF-8 (byte %d of the payload): JSON text must be UTF-8, and binary data encoded (such as base64)", at)}
	}
	if j.Queue != "" {
		if _, ok := cfg.Queues[j.Queue]; !ok {
			return nil, unknownQueue(cfg, j.Queue)
		}
	}
	if j.Priority < 0 || j.Priority > worker.MaxPriority {
		return nil, &worker.FieldError{Field: "priority", Msg: fmt.Sprintf("must be between 0 and %d, not %d", worker.MaxPriority, j.Priority)}
	}
	if len(j.UniqueKey) > 256 {
		return nil, &worker.FieldError{Field: "unique_key", Msg: "is longer than 256 bytes"}
	}
	if j.MaxAttempts < 0 {
		return nil, &worker.FieldError{Field: "max_attempts", Msg: "must not be negative"}
	}
	if req.Timeout != "" {
		t, err := time.ParseDuration(req.Timeout)
		if err != nil || t < 0 {
			return nil, &worker.FieldError{Field: "timeout", Msg: fmt.Sprintf("%q is not a duration such as \"30s\"", req.Timeout)}
		}
		j.Timeout = worker.Duration(t)
	}
	switch {
	case req.RunAt != "" && req.RunIn != "":
		return nil, &worker.FieldError{Field: "run_at", Msg: "give run_at or run_in, not both"}
	case req.RunAt != "":
		t, err := time.Parse(time.RFC3339Nano, req.RunAt)
		if err != nil {
			return nil, &worker.FieldError{Field: "run_at", Msg: fmt.Sprintf("%q is not an RFC 3339 time such as \"2026-01-02T15:04:05Z\"", req.RunAt)}
		}
		if t.Before(now.Add(-maxRunAtPast)) {
			return nil, &worker.FieldError{Field: "run_at", Msg: fmt.Sprintf("%s is more than %s in the past", req.RunAt, maxRunAtPast)}
		}
		j.RunAt = t
	case req.RunIn != "":
		in, err := time.ParseDuration(req.RunIn)
		if err != nil || in < 0 {
			return nil, &worker.FieldError{Field: "run_in", Msg: fmt.Sprintf("%q is not a duration such as \"5m\"", req.RunIn)}
		}
		j.RunAt = now.Add(in)
	}
	// The kind's checks come last: they may read the filesystem.
	queue, err := kind.Admit(j.Payload)
	if err != nil {
		var fe *worker.FieldError
		if errors.As(err, &fe) {
			return nil, &worker.FieldError{Field: "payload." + fe.Field, Msg: fe.Msg}
		}
		return nil, &worker.FieldError{Field: "payload", Msg: err.Error()}
	}
	if j.Queue == "" {
		j.Queue = cmp.Or(queue, DefaultQueue)
	}
	q, ok := cfg.Queues[j.Queue]
	if !ok {
		return nil, unknownQueue(cfg, j.Queue)
	}
	// A job may ask for less than its queue allows, never for more: the
	// queue's limits are what its operator sized the queue by.
	if j.MaxAttempts > q.MaxAttempts {
		return nil, &worker.FieldError{Field: "max_attempts", Msg: fmt.Sprintf("%d is over queue %q's max_attempts of %d", j.MaxAttempts, j.Queue, q.MaxAttempts)}
	}
	if q.Timeout > 0 && j.Timeout > q.Timeout {
		return nil, &worker.FieldError{Field: "timeout", Msg: fmt.Sprintf("%s is over queue %q's timeout of %s", j.Timeout.Std(), j.Queue, q.Timeout.Std())}
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = q.MaxAttempts
	}
	return j, nil
}

// invalidUTF8 returns the offset of the first byte of b that is not part
// of a UTF-8 sequence, or -1 when b is all UTF-8.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

func unknownQueue(cfg *Config, name string) error {
	return &worker.FieldError{Field: "queue", Msg: fmt.Sprintf("unknown queue %q (configured: %s)", name, strings.Join(sortedKeys(cfg.Queues), ", "))}
}

// submitStatus maps a store error to its HTTP status.
func submitStatus(err error) int {
	switch {
	case errors.Is(err, worker.ErrQueueFull):
		return 429
	case errors.Is(err, worker.ErrNotSupported):
		return 501
	default:
		return 503
	}
}
