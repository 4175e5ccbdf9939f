package daemon

import (
	"kiln/api"
	"kiln/worker"
)

// apiJob is a stored job as the API shows it: the queue's own bookkeeping
// (lease expiry, a pending cancel) stays inside.
func apiJob(j *worker.JobRecord) *api.Job {
	return &api.Job{
		ID: j.ID, Queue: j.Queue, Type: j.Type, Payload: j.Payload, Priority: j.Priority,
		RunAt: j.RunAt, Attempts: j.Attempts, MaxAttempts: j.MaxAttempts, Timeout: j.Timeout,
		UniqueKey: j.UniqueKey, State: j.State, LastError: j.LastError, Errors: j.Errors,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt, Result: j.Result,
	}
}

// submitted is how a submit is answered: without the payload, which the
// submitter has and which echoed back would double the work of a submit.
func submitted(j *worker.JobRecord, duplicate bool) *api.Submitted {
	a := apiJob(j)
	a.Payload = nil
	return &api.Submitted{Job: *a, Duplicate: duplicate}
}
