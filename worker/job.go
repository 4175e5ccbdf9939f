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

// Terminal reports whether a job in this state will never run again on its own.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateDead || s == StateCancelled
}

// Job is one unit of work. It carries a reference to its input (a path), never
// the input itself.
type Job struct {
	ID          string          `json:"id"`
	Queue       string          `json:"queue"`
	Type        string          `json:"type"`
	Payload     json.RawMessage `json:"payload"`
	Priority    int             `json:"priority"`
	RunAt       time.Time       `json:"run_at"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"max_attempts"`
	State       State           `json:"state"`
	LastError   string          `json:"last_error,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	LeaseUntil  time.Time       `json:"lease_until,omitzero"`
	Result      json.RawMessage `json:"result,omitempty"`
}
