package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// NoopType is the built-in job type that does nothing: submitting one
// checks the queue end to end, and benchmarks use it to measure the queue
// alone.
const NoopType = "noop"

// Noop is the kind of NoopType; its payload may be any JSON value. Two keys
// of an object payload make noop a test aid for chains and kills:
//
//   - "then": ["noop", "noop"] makes the job a chain: its result is its
//     payload with the first type taken off "then" (the key gone once it
//     is empty), and that type's job follows it in its queue with the
//     result as its payload. ["noop", "noop"] is a chain of three steps.
//   - "sleep": "50ms" makes each step take that long (at most
//     MaxNoopSleep), so that a kill can land while it runs.
type Noop struct{}

// MaxNoopSleep bounds a noop's "sleep".
const MaxNoopSleep = time.Minute

// noopPayload is what noop reads of its payload.
type noopPayload struct {
	Then  []string `json:"then"`
	Sleep string   `json:"sleep"`
}

// readNoop reads the keys noop acts on; a payload that names neither costs
// no decode (benchmarks run millions of noops).
func readNoop(payload json.RawMessage) (noopPayload, bool, error) {
	var p noopPayload
	if !bytes.Contains(payload, []byte(`"then"`)) && !bytes.Contains(payload, []byte(`"sleep"`)) {
		return p, false, nil
	}
	if len(bytes.TrimSpace(payload)) == 0 || bytes.TrimSpace(payload)[0] != '{' {
		return p, false, nil
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return p, false, err
	}
	return p, len(p.Then) > 0 || p.Sleep != "", nil
}

// Type implements Kind.
func (Noop) Type() string { return NoopType }

// Admit implements Kind.
func (Noop) Admit(payload json.RawMessage) (string, error) {
	p, ok, err := readNoop(payload)
	switch {
	case err != nil:
		return "", fmt.Errorf("noop reads \"then\" as a list of job types and \"sleep\" as a duration such as \"50ms\": %v", err)
	case !ok:
		return "", nil
	}
	for i, t := range p.Then {
		if t == "" {
			return "", &FieldError{Field: fmt.Sprintf("then[%d]", i), Msg: "is empty; name a job type"}
		}
	}
	if len(p.Then) >= MaxChainSteps {
		return "", &FieldError{Field: "then", Msg: fmt.Sprintf("names %d steps; a chain has at most %d", len(p.Then), MaxChainSteps)}
	}
	if p.Sleep != "" {
		d, err := time.ParseDuration(p.Sleep)
		if err != nil || d < 0 || d > MaxNoopSleep {
			return "", &FieldError{Field: "sleep", Msg: fmt.Sprintf("%q is not a duration between 0 and %s", p.Sleep, MaxNoopSleep)}
		}
	}
	return "", nil
}

// Handle implements Kind.
func (Noop) Handle(ctx context.Context, j *JobRecord) (json.RawMessage, error) {
	p, ok, err := readNoop(j.Payload)
	if err != nil || !ok {
		return nil, nil
	}
	if d, err := time.ParseDuration(p.Sleep); err == nil && d > 0 {
		t := time.NewTimer(min(d, MaxNoopSleep))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	if len(p.Then) == 0 {
		return nil, nil
	}
	// The rest of the chain is the next step's payload: every key as it
	// came, "then" one shorter.
	var rest map[string]json.RawMessage
	if err := json.Unmarshal(j.Payload, &rest); err != nil {
		return nil, Permanent(fmt.Errorf("noop payload: %w", err))
	}
	delete(rest, "then")
	if len(p.Then) > 1 {
		then, _ := json.Marshal(p.Then[1:])
		rest["then"] = then
	}
	return json.Marshal(rest)
}

// FollowUps implements FollowUpper: the first of "then", in the same
// queue, with the result (the rest of the chain) as its payload.
func (Noop) FollowUps(j *JobRecord, result json.RawMessage) []FollowUp {
	p, ok, err := readNoop(j.Payload)
	if err != nil || !ok || len(p.Then) == 0 {
		return nil
	}
	return []FollowUp{{Type: p.Then[0], Payload: result, Queue: j.Queue}}
}
