package worker

import "kiln/kilntype"

// The job vocabulary lives in kilntype, which clients import without this
// package; these names keep the worker's code readable.
type (
	State        = kilntype.State
	Duration     = kilntype.Duration
	AttemptError = kilntype.AttemptError
)

const (
	StateScheduled = kilntype.StateScheduled
	StateQueued    = kilntype.StateQueued
	StateRunning   = kilntype.StateRunning
	StateRetrying  = kilntype.StateRetrying
	StateSucceeded = kilntype.StateSucceeded
	StateDead      = kilntype.StateDead
	StateCancelled = kilntype.StateCancelled
)

// States lists every state in display order.
var States = kilntype.States
