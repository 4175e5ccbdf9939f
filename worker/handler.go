package worker

import (
	"context"
	"encoding/json"
	"errors"
)

// Handler runs one job type. It must be idempotent: the same job run twice
// produces the same outputs at the same places, because a job whose worker
// dies mid-run is run again.
type Handler interface {
	Handle(ctx context.Context, job *JobRecord) (result json.RawMessage, err error)
}

// permanentError marks a failure that no retry can cure.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so the job goes dead at once instead of being retried.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
