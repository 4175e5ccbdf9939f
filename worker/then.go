package worker

import (
	"fmt"
	"slices"
	"strings"
)

// A table of kiln.toml whose jobs may be followed by further steps
// ([pipelines.NAME], [commands.NAME]) names them in its then key: a list of
// job types, each a follow-up of every job of the table that succeeds,
// with that job's result as its payload.

// ThenFollowUps are the follow-ups a then list names: one per entry, in
// its order, each given the finished job's result as its payload and
// sent to the queue its own kind names.
func ThenFollowUps(then []string) []FollowUp {
	if len(then) == 0 {
		return nil
	}
	out := make([]FollowUp, len(then))
	for i, t := range then {
		out[i] = FollowUp{Type: t}
	}
	return out
}

// ThenProblem is what is wrong with one entry of a then list, "" when it
// names a job type a follow-up can run as. The types are view.JobTypes:
// every plugin's, so that a pipeline may be followed by a command.
func ThenProblem(entry string, view *ConfigView) string {
	switch {
	case entry == "":
		return "is empty; name a job type"
	case !slices.Contains(view.JobTypes, entry):
		return fmt.Sprintf("%q is no job type (job types: %s)", entry, strings.Join(view.JobTypes, ", "))
	}
	return ""
}

// ReloadThenProblem is what is wrong with an entry of a then a reload
// brings, "" when the running daemon has its kind (kind answers as
// Host.Kind does). The kinds are fixed at start: a command the reload adds
// runs only after a restart, and a job that finished meanwhile would fail
// for good for want of its step, so such a reload is refused.
func ReloadThenProblem(entry string, kind func(string) Kind) string {
	if kind(entry) != nil {
		return ""
	}
	return fmt.Sprintf("job type %q does not run yet: a command a reload adds runs only after a restart", entry)
}
