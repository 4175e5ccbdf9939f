package worker

import "context"

// OnceSubmitter is a Queue that takes a job under an ID its caller chose,
// once: a second submit of the same ID, from any host and at any time the
// queue still knows the job, adds nothing and answers the job as it is.
// Schedules submit their ticks through it, the tick's ID derived from the
// schedule and the tick's time, so that a restart or a second host can
// only submit a tick's job again, never a second one.
type OnceSubmitter interface {
	// SubmitOnce stores job (its ID set) durably, unless the queue knows
	// a job of that ID: then *job becomes that job and duplicate is true.
	SubmitOnce(ctx context.Context, job *JobRecord) (duplicate bool, err error)
}
