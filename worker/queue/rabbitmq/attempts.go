package rabbitmq

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"kiln/worker"
)

// The fleet's attempts and charts. A host that keeps records reads every
// job event of every host, so it alone can tell an observer
// (Options.Attempts) of the fleet's attempts: each change of a job to
// running is an attempt begun, each change from running to an end or a
// retry is one ended, with the times the publishing host wrote in the
// job. The events of a history read again (after a restart, or the past
// of a joining host) are told again with their own times; the observer
// decides what it has already counted. A host that keeps no records
// hears of no attempts and asks a host that does for its charts
// (FleetCharts).

// applyWatched is apply, telling the observer of the attempt the event
// begins or ends; mu is held. Only the events of the records stream and
// this host's own go through it: a record lent by another host is no
// change seen.
func (q *Queue) applyWatched(e *event) {
	o := q.opts.Attempts
	if o == nil || q.opts.NoRecords || e.Kind != evJob || e.Job == nil {
		q.apply(e)
		return
	}
	var before struct {
		known bool
		state worker.State
		at    time.Time
		seq   uint64
		gen   int
	}
	if r := q.recordLocked(e.Job.ID); r != nil {
		before.known, before.state, before.at, before.seq, before.gen = true, r.job.State, r.job.UpdatedAt, r.seq, r.gen
	}
	q.apply(e)
	if before.known && (e.Gen < before.gen || (e.Gen == before.gen && e.Seq <= before.seq)) {
		return // an older event, or one applied already: no change
	}
	j := e.Job
	if before.known && before.state == j.State {
		return
	}
	switch {
	case j.State == worker.StateRunning:
		o.AttemptBegan(j.Queue, j.UpdatedAt, max(j.UpdatedAt.Sub(j.RunAt), 0))
	case before.known && before.state == worker.StateRunning:
		if outcome, ok := attemptOutcome(j.State); ok {
			o.AttemptEnded(j.Queue, j.UpdatedAt, outcome, max(j.UpdatedAt.Sub(before.at), 0))
		}
	case j.State == worker.StateDead && before.known && !before.state.Terminal():
		// Dead without running here: the broker's delivery limit, after
		// attempts that crashed their host before they could end.
		o.AttemptEnded(j.Queue, j.UpdatedAt, worker.OutcomeDead, -1)
	case !before.known:
		// The start is gone from the stream: the end is still an attempt.
		if outcome, ok := attemptOutcome(j.State); ok && outcome != worker.OutcomeCancelled {
			o.AttemptEnded(j.Queue, j.UpdatedAt, outcome, -1)
		}
	}
}

// attemptOutcome is how an attempt that left running for state ended.
func attemptOutcome(state worker.State) (worker.Outcome, bool) {
	switch state {
	case worker.StateSucceeded:
		return worker.OutcomeSucceeded, true
	case worker.StateRetrying:
		return worker.OutcomeRetrying, true
	case worker.StateDead:
		return worker.OutcomeDead, true
	case worker.StateCancelled:
		return worker.OutcomeCancelled, true
	}
	return "", false
}

// chartsAskWithin bounds the wait for another host's charts: a page
// waits for them.
const chartsAskWithin = 5 * time.Second

// KeepsCharts reports whether this host hears of every attempt of the
// fleet (it keeps records), or must ask for the charts (FleetCharts).
func (q *Queue) KeepsCharts() bool { return !q.opts.NoRecords }

// FleetCharts asks a host that keeps records for its charts of span, as
// its Options.Charts encodes them.
func (q *Queue) FleetCharts(ctx context.Context, span string) (json.RawMessage, error) {
	ans, err := q.askHistory(ctx, historyRequest{Op: "charts", Span: span}, chartsAskWithin)
	if err != nil {
		return nil, fmt.Errorf("charts of the last %s: %w", span, err)
	}
	return ans.Charts, nil
}

// answerCharts is this host's charts for another that asks.
func (q *Queue) answerCharts(span string) (json.RawMessage, error) {
	if q.opts.Charts == nil {
		return nil, fmt.Errorf("charts: %w: this kilnd keeps none", worker.ErrNotSupported)
	}
	return q.opts.Charts(span)
}
