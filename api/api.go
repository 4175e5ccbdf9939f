// Package api is kiln's control API, version 1: HTTP+JSON on the daemon's
// unix socket. The daemon serves it; kilnctl and applications use Client.
package api

import (
	"time"

	"kiln/worker"
)

// Version is the path prefix of this API.
const Version = "/v1"

// SubmitRequest is the body of POST /v1/jobs. Unknown fields are refused.
type SubmitRequest struct {
	Pipeline    string `json:"pipeline"`
	Input       string `json:"input"`
	MaxAttempts int    `json:"max_attempts,omitempty"`
}

// Job is a job as the API shows it.
type Job = worker.Job

// Status is the body of GET /v1/status.
type Status struct {
	Version   string                          `json:"version"`
	PID       int                             `json:"pid"`
	StartedAt time.Time                       `json:"started_at"`
	Config    string                          `json:"config"`
	Queues    map[string]map[worker.State]int `json:"queues"`
	Running   int64                           `json:"running"`
	Succeeded int64                           `json:"succeeded_since_start"`
	Failed    int64                           `json:"failed_since_start"`
}

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	Error string `json:"error"`
}
