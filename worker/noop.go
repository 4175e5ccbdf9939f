package worker

import (
	"context"
	"encoding/json"
)

// NoopType is the built-in job type that does nothing: submitting one
// checks the queue end to end, and benchmarks use it to measure the queue
// alone.
const NoopType = "noop"

// Noop is the handler of NoopType.
type Noop struct{}

// Handle implements Handler.
func (Noop) Handle(context.Context, *Job) (json.RawMessage, error) { return nil, nil }
