package rabbitmq

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"kiln/worker"
)

var _ worker.ChainStore = (*Queue)(nil)

// newJobs are jobs that an answer publishes: their messages and queued
// events.
type newJobs struct {
	msgs []outgoing
	evs  []*event
}

// CompleteWithFollowUps implements worker.ChainStore. The follow-ups'
// messages are published and confirmed, then the job's success and their
// queued events, and only then is the job's delivery acked. A crash before
// the ack makes the job run again and publish its follow-ups again under
// the same IDs: a follow-up the records know by then is not published
// again, and a second message of one that was published is never run as a
// second job (dedupe.go).
func (q *Queue) CompleteWithFollowUps(ctx context.Context, id string, result json.RawMessage, followUps []*worker.JobRecord) error {
	if len(followUps) == 0 {
		return q.Complete(ctx, id, result)
	}
	count := map[string]int{}
	for _, f := range followUps {
		if f.ID == "" || f.Queue == "" {
			return fmt.Errorf("complete job %s: a follow-up has no ID or queue", id)
		}
		count[f.Queue]++
	}
	// Declared before the claim: a follow-up's queue may be new.
	if _, err := q.ensureQueues(count); err != nil {
		return fmt.Errorf("complete job %s: %w", id, err)
	}
	ls, r, l, err := q.claim("complete", id)
	if err != nil {
		return err
	}
	j, t := succeeded(r, result)
	if j.State == worker.StateCancelled {
		// A cancelled job has no follow-ups.
		return q.answer("complete", ls, r, l, withoutPayload(j), nil)
	}
	if r.job.Attempts > 1 && q.asksOthers() {
		// An earlier attempt may have stored the follow-ups already: this
		// host asks a host that keeps the records whether it knows them.
		for _, f := range followUps {
			if err := q.knowJob(ctx, f.ID); err != nil {
				q.unclaim(id, ls)
				return fmt.Errorf("complete job %s: follow-up %w", id, err)
			}
		}
		defer func() {
			for _, f := range followUps {
				q.forgetUnheld(f.ID)
			}
		}()
	}
	more, err := q.followUpMessages(l, id, followUps, t)
	if err != nil {
		q.unclaim(id, ls)
		return fmt.Errorf("complete job %s: %w", id, err)
	}
	j.Children = make([]string, len(followUps))
	for i, f := range followUps {
		j.Children[i] = f.ID
	}
	return q.answerWith("complete", ls, r, l, withoutPayload(j), nil, more)
}

// followUpMessages makes the messages and queued events of a job's
// follow-ups, passing over those the records know: their messages were
// confirmed before any event of theirs went out.
func (q *Queue) followUpMessages(l *link, parent string, followUps []*worker.JobRecord, t time.Time) (newJobs, error) {
	q.mu.Lock()
	known := map[string]bool{}
	for _, f := range followUps {
		r, purged := q.knownLocked(f.ID)
		known[f.ID] = r != nil || purged
	}
	q.mu.Unlock()
	var out newJobs
	for _, f := range followUps {
		if known[f.ID] {
			continue
		}
		j := *f
		j.Parent, j.Children, j.Errors, j.LastError, j.Result = parent, nil, nil, "", nil
		j.RunAt = time.Time{}
		// A follow-up inherits its parent's priority, which quorum queues
		// do not have (a message of another client may name one): it runs
		// in its queue's order, as every job here does.
		j.Priority, j.UniqueKey = 0, ""
		q.fillNew(&j, t)
		j.CreatedAt = t
		msg := jobMessage(&j, 0, 1, 1)
		ex, key, step := q.route(j.Queue, j.RunAt, &msg)
		if err := q.ensureStep(l, step); err != nil {
			return newJobs{}, err
		}
		out.msgs = append(out.msgs, outgoing{ex, key, msg})
		out.evs = append(out.evs, &event{Kind: evJob, Host: q.host, Seq: 1, Gen: 1, Copy: 1, Job: &j})
	}
	return out, nil
}
