package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"kiln/api"
	"kiln/worker"
	"kiln/worker/image"
)

// maxRunAtPast bounds how far in the past run_at may be: further back is
// more likely a clock or unit mistake than an intent.
const maxRunAtPast = 24 * time.Hour

// fieldError is a submit request's problem with one field; the API answers
// it with a 400 that names the field.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// buildJob turns a submit request into a job, or names the field that is
// wrong. It checks everything that can be checked before the job is stored,
// so that nothing doomed is accepted.
func (d *daemonState) buildJob(req api.SubmitRequest, now time.Time) (*worker.Job, error) {
	cfg := d.config()
	j := &worker.Job{Queue: req.Queue, Type: req.Type, Payload: req.Payload, Priority: req.Priority, UniqueKey: req.UniqueKey, MaxAttempts: req.MaxAttempts}

	if req.Pipeline != "" {
		pl, ok := cfg.Pipelines[req.Pipeline]
		switch {
		case !ok:
			return nil, &fieldError{"pipeline", fmt.Sprintf("unknown pipeline %q (configured: %s)", req.Pipeline, strings.Join(sortedKeys(cfg.Pipelines), ", "))}
		case req.Type != "" && req.Type != image.JobType:
			return nil, &fieldError{"type", fmt.Sprintf("a pipeline job is of type %q", image.JobType)}
		case len(req.Payload) > 0:
			return nil, &fieldError{"payload", "not allowed with pipeline: give input instead"}
		case req.Input == "":
			return nil, &fieldError{"input", "is required with pipeline"}
		}
		j.Type = image.JobType
		j.Payload, _ = json.Marshal(image.Payload{Pipeline: req.Pipeline, Input: req.Input})
		if j.Queue == "" {
			j.Queue = pl.Queue
		}
	} else {
		switch {
		case req.Input != "":
			return nil, &fieldError{"input", "only with pipeline"}
		case req.Type == "":
			return nil, &fieldError{"type", "is required (or give pipeline and input)"}
		case d.handlers[req.Type] == nil:
			return nil, &fieldError{"type", fmt.Sprintf("no handler for %q (known: %s)", req.Type, strings.Join(sortedKeys(d.handlers), ", "))}
		case len(req.Payload) == 0:
			j.Payload = json.RawMessage("{}")
		}
	}
	if j.Queue == "" {
		j.Queue = DefaultQueue
	}
	q, ok := cfg.Queues[j.Queue]
	if !ok {
		return nil, &fieldError{"queue", fmt.Sprintf("unknown queue %q (configured: %s)", j.Queue, strings.Join(sortedKeys(cfg.Queues), ", "))}
	}
	if len(j.Payload) > worker.MaxPayload {
		return nil, &fieldError{"payload", fmt.Sprintf("%d bytes is over the %d KiB limit: a job carries a reference (such as a path) to its data, not the data", len(j.Payload), worker.MaxPayload>>10)}
	}
	if j.Priority < 0 || j.Priority > worker.MaxPriority {
		return nil, &fieldError{"priority", fmt.Sprintf("must be between 0 and %d, not %d", worker.MaxPriority, j.Priority)}
	}
	if len(j.UniqueKey) > 256 {
		return nil, &fieldError{"unique_key", "is longer than 256 bytes"}
	}
	switch {
	case j.MaxAttempts < 0:
		return nil, &fieldError{"max_attempts", "must not be negative"}
	case j.MaxAttempts == 0:
		j.MaxAttempts = q.MaxAttempts
	}
	if req.Timeout != "" {
		t, err := time.ParseDuration(req.Timeout)
		if err != nil || t < 0 {
			return nil, &fieldError{"timeout", fmt.Sprintf("%q is not a duration such as \"30s\"", req.Timeout)}
		}
		j.Timeout = worker.Duration(t)
	}
	switch {
	case req.RunAt != "" && req.RunIn != "":
		return nil, &fieldError{"run_at", "give run_at or run_in, not both"}
	case req.RunAt != "":
		t, err := time.Parse(time.RFC3339Nano, req.RunAt)
		if err != nil {
			return nil, &fieldError{"run_at", fmt.Sprintf("%q is not an RFC 3339 time such as \"2026-01-02T15:04:05Z\"", req.RunAt)}
		}
		if t.Before(now.Add(-maxRunAtPast)) {
			return nil, &fieldError{"run_at", fmt.Sprintf("%s is more than %s in the past", req.RunAt, maxRunAtPast)}
		}
		j.RunAt = t
	case req.RunIn != "":
		in, err := time.ParseDuration(req.RunIn)
		if err != nil || in < 0 {
			return nil, &fieldError{"run_in", fmt.Sprintf("%q is not a duration such as \"5m\"", req.RunIn)}
		}
		j.RunAt = now.Add(in)
	}
	if v, ok := d.handlers[j.Type].(worker.Validator); ok {
		if err := v.Validate(j.Payload); err != nil {
			field := "payload"
			if req.Pipeline != "" {
				field = "input"
			}
			return nil, &fieldError{field, err.Error()}
		}
	}
	return j, nil
}

// submitStatus maps a store error to its HTTP status.
func submitStatus(err error) int {
	switch {
	case errors.Is(err, worker.ErrQueueFull):
		return 429
	default:
		return 503
	}
}
