package worker

import "errors"

// ErrNotSupported is returned for a feature a queue backend cannot give
// soundly (priorities, exact unique keys on a broker that has neither).
// The error that wraps it names the backend and the reason; callers refuse
// the request with it rather than pretend the feature worked.
var ErrNotSupported = errors.New("not supported by this queue backend")

// ErrUnavailable is returned when a backend cannot reach the service that
// stores its jobs (a broker down, or blocked by a resource alarm): nothing
// was stored, and the caller may try again later.
var ErrUnavailable = errors.New("queue backend unavailable")
