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

// AttemptObserver hears of attempts with the time each began or ended. A
// backend shared by several hosts tells it of every host's attempts as it
// learns of them, and again of past ones when it reads its history again
// after a restart: the observer tells those apart by their times. Its
// methods must not block.
type AttemptObserver interface {
	// AttemptBegan: waited is how long the job was due before at.
	AttemptBegan(queue string, at time.Time, waited time.Duration)
	// AttemptEnded: ran is the time from the attempt's start to at, or
	// negative when it is not known.
	AttemptEnded(queue string, at time.Time, outcome Outcome, ran time.Duration)
}
