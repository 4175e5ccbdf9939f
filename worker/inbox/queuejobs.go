package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"kiln/worker"
)

// endsPerRead bounds the events one read of the event log returns.
const endsPerRead = 256

// QueueJobs is Jobs on kiln's own queue: jobs go through the daemon's
// submit checks, are looked up in the backend, and end in its event log.
type QueueJobs struct {
	// SubmitJobs queues jobs, all or none, checked as the control API
	// checks them (worker.Host.Submit).
	SubmitJobs func(ctx context.Context, jobs []worker.JobRequest) error
	Queue      worker.Queue
	// Events is the backend's event log; nil when it keeps none.
	Events worker.EventLog
	// JobType is the type of the pictures' jobs, and Payload a picture's
	// payload.
	JobType string
	Payload func(p Picture) (json.RawMessage, error)
	// DerivedIDs submits each picture's job under an ID derived from its
	// unique key, without the key: for a backend that has no unique keys
	// (rabbitmq), where a second job of a known ID is the same job.
	DerivedIDs bool
}

// DerivedID is the ID of the job of a picture whose unique key is key,
// when the backend has no unique keys. It has no "-" so that it never
// reads as a follow-up's ID (worker.FollowUpID).
func DerivedID(uniqueKey string) string {
	pipeline, key, ok := parseUniqueKey(uniqueKey)
	if !ok {
		return ""
	}
	return "inbox." + pipeline + "." + key
}

var _ Jobs = (*QueueJobs)(nil)

// Submit implements Jobs. A submit the daemon refuses for a field of the
// job is the picture's fault (not a picture, too big): a *Refused.
func (q *QueueJobs) Submit(ctx context.Context, pictures []Picture) error {
	reqs := make([]worker.JobRequest, len(pictures))
	for i, p := range pictures {
		payload, err := q.Payload(p)
		if err != nil {
			return fmt.Errorf("inbox job of %s: %w", p.Input, err)
		}
		reqs[i] = worker.JobRequest{Type: q.JobType, Payload: payload, UniqueKey: p.UniqueKey}
		if q.DerivedIDs {
			reqs[i].ID, reqs[i].UniqueKey = DerivedID(p.UniqueKey), ""
		}
	}
	err := q.SubmitJobs(ctx, reqs)
	var fe *worker.FieldError
	if errors.As(err, &fe) {
		return &Refused{Reason: fe.Error()}
	}
	return err
}

// Job implements Jobs.
func (q *QueueJobs) Job(ctx context.Context, id string) (End, bool, error) {
	j, err := q.Queue.Get(ctx, id)
	if errors.Is(err, worker.ErrNotFound) {
		return End{}, false, ErrGone
	}
	if err != nil {
		return End{}, false, err
	}
	if !j.State.Terminal() {
		return End{}, false, nil
	}
	return endOf(j, j.State, j.LastError), true, nil
}

func endOf(j *worker.JobRecord, state worker.State, lastError string) End {
	end := End{Job: j.ID, UniqueKey: j.UniqueKey, Succeeded: state == worker.StateSucceeded}
	switch state {
	case worker.StateDead:
		end.Reason = fmt.Sprintf("job %s ended dead after %d attempts: %s", j.ID, j.Attempts, strings.TrimSpace(lastError))
	case worker.StateCancelled:
		end.Reason = fmt.Sprintf("job %s was cancelled", j.ID)
	}
	return end
}

// Ends implements Jobs.
func (q *QueueJobs) Ends() EndLog {
	if q.Events == nil {
		return nil
	}
	return eventEnds{q}
}

// eventEnds reads the ends of inbox jobs from the event log.
type eventEnds struct{ q *QueueJobs }

var terminal = worker.EventFilter{States: []worker.State{worker.StateSucceeded, worker.StateDead, worker.StateCancelled}}

func (e eventEnds) Head(ctx context.Context) (uint64, error) {
	page, err := e.q.Events.Events(ctx, 0, worker.EventFilter{}, 0)
	if err != nil {
		return 0, fmt.Errorf("read the event log: %w", err)
	}
	return page.Last, nil
}

// Read returns the ends of the jobs an inbox submitted; each job is read
// for its unique key, which the event does not carry.
func (e eventEnds) Read(ctx context.Context, after uint64) ([]End, uint64, bool, error) {
	page, err := e.q.Events.Events(ctx, after, terminal, endsPerRead)
	if err != nil {
		return nil, after, false, fmt.Errorf("read the event log after %d: %w", after, err)
	}
	var ends []End
	for _, ev := range page.Events {
		if ev.Type != e.q.JobType {
			continue
		}
		j, err := e.q.Queue.Get(ctx, ev.Job)
		if errors.Is(err, worker.ErrNotFound) {
			continue // purged already; a restart finds its ticket
		}
		if err != nil {
			return nil, after, false, fmt.Errorf("read job %s: %w", ev.Job, err)
		}
		if !strings.HasPrefix(j.UniqueKey, uniqueKeyPrefix) {
			continue
		}
		ends = append(ends, endOf(j, ev.State, ev.Error))
	}
	return ends, page.Next, page.Next < page.Last, nil
}

func (e eventEnds) Changed() <-chan struct{} { return e.q.Events.EventsChanged() }
