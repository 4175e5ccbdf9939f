package worker

import (
	"context"
	"time"
)

// What some backends can do beyond Queue. The daemon asks for these with a
// type assertion and does without where a backend has none.

// EachSubmitter stores each job as a durable change of its own: a refused
// job leaves the others stored. errs[i] is nil once jobs[i] is durable.
type EachSubmitter interface {
	SubmitEach(ctx context.Context, jobs []*JobRecord) (duplicate []bool, errs []error)
}

// CommitObserver reports each durable commit's latency and how many changes
// shared it.
type CommitObserver interface {
	ObserveCommits(fn func(latency time.Duration, changes int))
}

// SubmitEach stores jobs through q, each as its own change: in one go when
// q can, one after another otherwise.
func SubmitEach(ctx context.Context, q Queue, jobs []*JobRecord) (duplicate []bool, errs []error) {
	if e, ok := q.(EachSubmitter); ok {
		return e.SubmitEach(ctx, jobs)
	}
	duplicate, errs = make([]bool, len(jobs)), make([]error, len(jobs))
	for i, j := range jobs {
		d, err := q.Submit(ctx, j)
		if err == nil {
			duplicate[i] = d[0]
		}
		errs[i] = err
	}
	return duplicate, errs
}
