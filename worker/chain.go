package worker

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// A chain is a job followed by further steps: when a job succeeds, its kind
// may name follow-ups, each a job of its own (its own queue, attempts,
// retries and death) whose parent is the finished job. The follow-ups are
// stored by the same durable change that marks the parent succeeded, so a
// crash leaves either the parent unfinished (it runs again) or the parent
// finished with every follow-up stored; and a follow-up's ID is derived
// from its parent's, so that a backend which can only publish again after
// a crash publishes the same job again, never a second one.

// FollowUp is one step that follows a finished job.
type FollowUp struct {
	// Type is the job kind that runs the step.
	Type string
	// Payload is the step's payload; nil gives it the finished job's
	// result ({} when it has none).
	Payload json.RawMessage
	// Queue is where the step runs; "" is the queue its kind names, or
	// DefaultQueue.
	Queue string
}

// FollowUpper is implemented by a kind whose finished jobs may have
// follow-ups: which ones is the kind's business (its config, the job's
// payload). It is asked once per success, after the handler returned.
type FollowUpper interface {
	FollowUps(job *JobRecord, result json.RawMessage) []FollowUp
}

// ChainStore is a Queue that stores follow-ups with a success. The pool
// runs kinds with follow-ups only on a queue that has it; without it a job
// that names follow-ups fails for good, rather than finish without them.
type ChainStore interface {
	// CompleteWithFollowUps does Complete and stores followUps (their
	// IDs, Parent and fields set, as FollowUpJobs makes them) in the same
	// durable change; the parent's Children become their IDs. A
	// follow-up whose ID the queue already knows is not stored again.
	// A BatchFinisher that is a ChainStore stores Completion.FollowUps
	// the same way.
	CompleteWithFollowUps(ctx context.Context, id string, result json.RawMessage, followUps []*JobRecord) error
}

// DefaultQueue is the queue a follow-up goes to when neither it nor its
// kind names one; the daemon's config always has it.
const DefaultQueue = "default"

// MaxChainSteps bounds the length of a chain, so that follow-ups that name
// each other in a loop end instead of running forever.
const MaxChainSteps = 64

// FollowUpID is the ID of a job's n-th follow-up (from 1): the parent's ID
// and n, so that the same success always names the same jobs.
func FollowUpID(parent string, n int) string {
	return parent + "-" + strconv.Itoa(n)
}

// chainStep is how many follow-up steps led to the job of this ID: the
// "-n" suffixes FollowUpID added.
func chainStep(id string) int {
	step := 0
	for {
		i := len(id) - 1
		for i >= 0 && id[i] >= '0' && id[i] <= '9' {
			i--
		}
		if i == len(id)-1 || i < 1 || id[i] != '-' {
			return step
		}
		id = id[:i]
		step++
	}
}

// FollowUpJobs makes the follow-ups of a finished job into jobs, each
// checked by its own kind as a submit is, with its queue's max_attempts.
// kinds and queues are the daemon's; an error names the follow-up at fault
// and no retry of the parent can cure it.
func FollowUpJobs(parent *JobRecord, result json.RawMessage, followUps []FollowUp, kinds Kinds, queues map[string]QueueConfig) ([]*JobRecord, error) {
	if len(followUps) == 0 {
		return nil, nil
	}
	if chainStep(parent.ID)+1 >= MaxChainSteps {
		return nil, fmt.Errorf("follow-ups of job %s: the chain is %d steps long, the most a chain may have", parent.ID, MaxChainSteps)
	}
	out := make([]*JobRecord, len(followUps))
	for i, f := range followUps {
		id := FollowUpID(parent.ID, i+1)
		fail := func(format string, args ...any) error {
			return fmt.Errorf("follow-up %s (%s): %s", id, f.Type, fmt.Sprintf(format, args...))
		}
		kind := kinds[f.Type]
		if kind == nil {
			return nil, fail("no job kind %q", f.Type)
		}
		payload := f.Payload
		if payload == nil {
			payload = result
		}
		if len(payload) == 0 {
			payload = json.RawMessage("{}")
		}
		switch {
		case len(payload) > MaxPayload:
			return nil, fail("payload of %d bytes is over the %d KiB limit", len(payload), MaxPayload>>10)
		case !utf8.Valid(payload) || !json.Valid(payload):
			return nil, fail("payload is not JSON text")
		}
		queue, err := kind.Admit(payload)
		if err != nil {
			if fe, ok := err.(*FieldError); ok {
				return nil, fail("payload.%s: %s", fe.Field, fe.Msg)
			}
			return nil, fail("payload: %v", err)
		}
		queue = cmp.Or(f.Queue, queue, DefaultQueue)
		cfg, ok := queues[queue]
		if !ok {
			return nil, fail("unknown queue %q", queue)
		}
		out[i] = &JobRecord{
			ID: id, Parent: parent.ID, Queue: queue, Type: f.Type, Payload: payload,
			// A chain keeps its submitter's urgency.
			Priority:    parent.Priority,
			MaxAttempts: max(cfg.MaxAttempts, 1),
		}
	}
	return out, nil
}
