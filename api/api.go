// Package api is kiln's control API, version 1: HTTP+JSON on the daemon's
// unix socket. The daemon serves it; kilnctl and applications use Client.
package api

import (
	"encoding/json"
	"time"

	"kiln/worker"
)

// Version is the path prefix of this API.
const Version = "/v1"

// SubmitRequest is the body of POST /v1/jobs and one element of a batch.
// Unknown fields are refused.
//
// An image job names a pipeline and an input path; any other job names its
// type and carries a small JSON payload (at most 64 KiB: a reference to its
// data, never the data).
type SubmitRequest struct {
	Pipeline    string          `json:"pipeline,omitempty"`
	Input       string          `json:"input,omitempty"`
	Type        string          `json:"type,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Queue       string          `json:"queue,omitempty"`    // default: the pipeline's queue, else "default"
	Priority    int             `json:"priority,omitempty"` // 0..1000, higher runs first
	RunAt       string          `json:"run_at,omitempty"`   // RFC 3339; not before
	RunIn       string          `json:"run_in,omitempty"`   // or a delay such as "5m"
	UniqueKey   string          `json:"unique_key,omitempty"`
	MaxAttempts int             `json:"max_attempts,omitempty"` // default: the queue's
	Timeout     string          `json:"timeout,omitempty"`      // per attempt, default: the queue's
}

// BatchRequest is the body of POST /v1/jobs/batch: all jobs are stored in
// one durable write, or none is.
type BatchRequest struct {
	Jobs []SubmitRequest `json:"jobs"`
}

// Job is a job as the API shows it.
type Job = worker.Job

// JobList is the answer of GET /v1/jobs and POST /v1/jobs/batch.
type JobList struct {
	Jobs []*Job `json:"jobs"`
}

// Count is the answer of bulk operations.
type Count struct {
	Count int `json:"count"`
}

// Status is the body of GET /v1/status.
type Status struct {
	Version   string                  `json:"version"`
	PID       int                     `json:"pid"`
	StartedAt time.Time               `json:"started_at"`
	Config    string                  `json:"config"`
	Queues    map[string]*QueueStatus `json:"queues"`
	Running   int64                   `json:"running"`
	Succeeded int64                   `json:"succeeded_since_start"`
	Failed    int64                   `json:"failed_since_start"`
	Purged    int64                   `json:"purged_by_retention"`
}

// QueueStatus is one queue in Status.
type QueueStatus struct {
	Counts           map[worker.State]int `json:"counts"`
	Paused           bool                 `json:"paused"`
	Concurrency      int                  `json:"concurrency"`
	SucceededPerSec  float64              `json:"succeeded_per_s"`
	FailedPerSec     float64              `json:"failed_per_s"`
	OldestQueuedAgeS float64              `json:"oldest_queued_age_s"`
}

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	Error string `json:"error"`
}
