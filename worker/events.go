package worker

import (
	"context"
	"slices"
	"time"
)

// Event is one change of a job's state. IDs increase by one with every
// event a store keeps, in commit order, so that a reader who remembers the
// last ID it saw can resume exactly there.
type Event struct {
	ID      uint64    `json:"id"`
	Time    time.Time `json:"time"`
	Job     string    `json:"job"`
	Queue   string    `json:"queue"`
	Type    string    `json:"type"`
	State   State     `json:"state"`
	From    State     `json:"from,omitempty"` // "" for a new job
	Attempt int       `json:"attempt"`
	Error   string    `json:"error,omitempty"` // the attempt's error, when it failed
}

// EventFilter selects events; empty fields select everything.
type EventFilter struct {
	Queue  string
	Job    string
	States []State
}

// Match reports whether e passes the filter.
func (f EventFilter) Match(e *Event) bool {
	return (f.Queue == "" || e.Queue == f.Queue) &&
		(f.Job == "" || e.Job == f.Job) &&
		(len(f.States) == 0 || slices.Contains(f.States, e.State))
}

// EventPage is one read of the event log.
type EventPage struct {
	Events []Event // the matching events after the asked ID, oldest first
	// Next is the ID to read after next time: the last event looked at,
	// matching or not.
	Next uint64
	// FirstKept is the oldest event still kept (Last+1 when none is): a
	// reader whose last ID is below FirstKept-1 has missed events.
	FirstKept uint64
	// Last is the newest event written.
	Last uint64
}

// EventRetention bounds the event log: events older than Keep go, and
// never more than Max are kept (0 = no bound).
type EventRetention struct {
	Keep time.Duration
	Max  int
}

// EventLog is what a queue backend that keeps its events durably offers
// besides Queue. An event is written in the same transaction as the change
// it tells of, so a crash can neither lose nor reorder one.
type EventLog interface {
	// Events reads the events after ID after that pass the filter, at
	// most limit, looking at a bounded number of events per call.
	Events(ctx context.Context, after uint64, f EventFilter, limit int) (EventPage, error)
	// EventsChanged returns a channel closed when the next events have
	// been committed.
	EventsChanged() <-chan struct{}
}
