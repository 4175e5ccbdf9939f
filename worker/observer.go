package worker

import "time"

// Outcome is how one attempt of a job ended.
type Outcome string

const (
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeRetrying  Outcome = "retrying" // failed; another attempt is scheduled
	OutcomeDead      Outcome = "dead"     // failed with no attempt left, or permanently
	OutcomeCancelled Outcome = "cancelled"
)

// PoolObserver hears of each attempt the pool runs, for metrics. Its
// methods are called from the attempts' goroutines and must not block.
type PoolObserver interface {
	// AttemptStarted: waited is how long the job was due before it was
	// leased.
	AttemptStarted(queue, kind string, waited time.Duration)
	// AttemptFinished: ran is the handler's time; it is called only once
	// the outcome is on stable storage.
	AttemptFinished(queue, kind string, outcome Outcome, ran time.Duration)
}

// Observe makes o hear of every attempt from now on; call it before Run.
func (p *Pool) Observe(o PoolObserver) { p.observer = o }
