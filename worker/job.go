// Package worker runs jobs: the job model, the queue seam that backends
// implement, the handler registry and the pool that dispatches leased jobs to
// handlers under per-queue concurrency limits.
package worker

import (
	"encoding/json"
	"time"
)

// State is where a job stands in its life. The names are part of the API.
type State string

const (
	StateScheduled State = "scheduled" // waiting for its run_at
	StateQueued    State = "queued"    // ready to run
	StateRunning   State = "running"   // leased by a worker
	StateRetrying  State = "retrying"  // failed, waiting for its backoff
	StateSucceeded State = "succeeded"
	StateDead      State = "dead" // out of attempts or failed permanently
	StateCancelled State = "cancelled"
)

// States lists every state in display order.
var States = []State{StateScheduled, StateQueued, StateRunning, StateRetrying, StateSucceeded, StateDead, StateCancelled}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Terminal reports whether a job in this state will never run again on its own.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateDead || s == StateCancelled
}

// MaxPayload bounds a job's payload: jobs carry references (paths), never
// the data itself.
const MaxPayload = 64 << 10

// MaxPriority bounds Priority; higher runs first.
const MaxPriority = 1000

// Job is one unit of work. It carries a reference to its input (a path), never
// the input itself.
type Job struct {
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
	// Existing is set on a submit answered with an unfinished job that has
	// the same unique_key, instead of a new job. It is not stored.
	Existing bool `json:"existing,omitempty"`
}

// AttemptError is the error of one failed attempt.
type AttemptError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

// maxErrorsKept bounds a job's error history; the first and the latest
// errors are what an operator needs.
const maxErrorsKept = 20

// RecordError appends an attempt's error, keeping the history bounded.
func (j *Job) RecordError(at time.Time, msg string) {
	j.LastError = msg
	j.Errors = append(j.Errors, AttemptError{Attempt: j.Attempts, At: at, Error: msg})
	if n := len(j.Errors); n > maxErrorsKept {
		j.Errors = append(j.Errors[:1], j.Errors[n-maxErrorsKept+1:]...)
	}
}
