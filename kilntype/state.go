package kilntype

// State is where a job stands in its life. The names are part of the API.
type State string

const (
	StateScheduled State = "scheduled" // waiting for its run_at
	StateQueued    State = "queued"    // ready to run
	StateRunning   State = "running"   // leased by a worker
	StateRetrying  State = "retrying"  // failed, waiting for its backoff
	StateSucceeded State = "succeeded"
	StateDead      State = "dead" // out of attempts or failed permanently
	StateCancelled State = "cancelled"
)

// States lists every state in display order.
var States = []State{StateScheduled, StateQueued, StateRunning, StateRetrying, StateSucceeded, StateDead, StateCancelled}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Terminal reports whether a job in this state will never run again on its own.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateDead || s == StateCancelled
}
