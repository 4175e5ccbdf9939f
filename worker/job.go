// Package worker runs jobs: the job model, the queue seam that backends
// implement, the handler registry and the pool that dispatches leased jobs to
// handlers under per-queue concurrency limits.
package worker

import (
	"encoding/json"
	"time"
)

// MaxPayload bounds a job's payload: jobs carry references (paths), never
// the data itself.
const MaxPayload = 64 << 10

// MaxPriority bounds Priority; higher runs first.
const MaxPriority = 1000

// JobRecord is a job as the queue stores it: one unit of work, with the
// queue's own bookkeeping (lease, pending cancel). It carries a reference to
// its input (a path), never the input itself. The API shows api.Job.
type JobRecord struct {
	ID          string          `json:"id"`
	Queue       string          `json:"queue"`
	Type        string          `json:"type"`
	Payload     json.RawMessage `json:"payload"`
	Priority    int             `json:"priority"` // 0..MaxPriority, higher runs first
	RunAt       time.Time       `json:"run_at"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"max_attempts"`
	Timeout     Duration        `json:"timeout,omitempty"` // per attempt; 0 = the queue's
	UniqueKey   string          `json:"unique_key,omitempty"`
	State       State           `json:"state"`
	LastError   string          `json:"last_error,omitempty"`
	Errors      []AttemptError  `json:"errors,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	FinishedAt  time.Time       `json:"finished_at,omitzero"`
	LeaseUntil  time.Time       `json:"lease_until,omitzero"`
	Result      json.RawMessage `json:"result,omitempty"`
	// CancelRequested is set when a running job is cancelled; its handler's
	// context is cancelled and it ends cancelled.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Parent is the job whose success made this one, a follow-up step
	// (chain.go); "" for a job that was submitted.
	Parent string `json:"parent,omitempty"`
	// Children are the follow-ups stored with this job's success.
	Children []string `json:"children,omitempty"`
}

// maxErrorsKept bounds a job's error history; the first and the latest
// errors are what an operator needs.
const maxErrorsKept = 20

// RecordError appends an attempt's error, keeping the history bounded.
func (j *JobRecord) RecordError(at time.Time, msg string) {
	j.LastError = msg
	j.Errors = append(j.Errors, AttemptError{Attempt: j.Attempts, At: at, Error: msg})
	if n := len(j.Errors); n > maxErrorsKept {
		j.Errors = append(j.Errors[:1], j.Errors[n-maxErrorsKept+1:]...)
	}
}
