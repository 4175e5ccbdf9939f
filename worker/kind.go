package worker

import (
	"encoding/json"
	"fmt"
)

// Kind is one type of job, plugged into the daemon by a Plugin. The daemon
// routes jobs by their type and knows nothing else of a kind: the kind owns
// its payload, checks it once at submit, runs it and shapes its result.
type Kind interface {
	Handler
	// Type is the job type the kind runs, such as "image".
	Type() string
	// Admit checks a payload before its job is stored, so that nothing
	// doomed is accepted, and returns the queue the job goes to when the
	// submitter names none ("" for the default queue). An error is the
	// submitter's to fix; a *FieldError names the payload field at fault.
	Admit(payload json.RawMessage) (queue string, err error)
}

// FieldError is a submitted job's problem with one of its fields; the API
// answers it with a 400 that names the field. A kind names the fields of
// its payload ("input"), the daemon those of the request ("run_at",
// "payload.input").
type FieldError struct {
	Field string // as the submitter wrote it
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Kinds are the job kinds a daemon runs, by type.
type Kinds map[string]Kind

// NewKinds registers kinds; two kinds of one type are a programming error.
func NewKinds(kinds ...Kind) (Kinds, error) {
	out := Kinds{}
	for _, k := range kinds {
		if _, dup := out[k.Type()]; dup {
			return nil, fmt.Errorf("register job kind %q: registered twice", k.Type())
		}
		out[k.Type()] = k
	}
	return out, nil
}
