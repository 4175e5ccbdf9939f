package worker

import (
	"context"
	"encoding/json"
)

// NoopType is the built-in job type that does nothing: submitting one
// checks the queue end to end, and benchmarks use it to measure the queue
// alone.
const NoopType = "noop"

// Noop is the kind of NoopType; its payload may be any JSON value.
type Noop struct{}

// Type implements Kind.
func (Noop) Type() string { return NoopType }

// Admit implements Kind.
func (Noop) Admit(json.RawMessage) (string, error) { return "", nil }

// Handle implements Kind.
func (Noop) Handle(context.Context, *JobRecord) (json.RawMessage, error) { return nil, nil }
