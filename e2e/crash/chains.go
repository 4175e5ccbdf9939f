package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"kiln/api"
	"kiln/worker"
)

// chainSteps is how many steps each chain of the crash test has: a noop
// that names two noops to follow it, each step taking chainStepSleep so
// that kills land while steps run and between them.
const (
	chainSteps     = 3
	chainStepSleep = "40ms"
	chainQueue     = "chains"
)

var chainPayload = json.RawMessage(fmt.Sprintf(`{"then":["noop","noop"],"sleep":%q}`, chainStepSleep))

// submitChain submits one chain and returns its first step's ID, or ""
// when kilnd did not acknowledge it.
func submitChain(ctx context.Context, client *api.Client) string {
	j, err := client.Submit(ctx, api.SubmitRequest{Type: worker.NoopType, Queue: chainQueue, Payload: chainPayload})
	if err != nil {
		return ""
	}
	return j.ID
}

// checkChains checks, once kilnd runs in peace, that every acknowledged
// chain completed: each step succeeded, linked to the step before and
// after it, and ran more than once only when a kill cut a run short; and
// that no step of any chain is a job twice: every follow-up in the queue
// is its parent's one child, under the ID derived from the parent's.
func checkChains(ctx context.Context, client *api.Client, roots []string) (reruns int, problems []string) {
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, root := range roots {
		id, parent := root, ""
		for step := 1; step <= chainSteps; step++ {
			// A step is stored by its parent's success: it is there once
			// the step before has finished.
			j, err := waitFinished(ctx, client, id)
			if err != nil {
				report("chain %s, step %d (%s): %v", root, step, id, err)
				break
			}
			if j.State != worker.StateSucceeded {
				report("chain %s, step %d (%s) ended %s: %s", root, step, id, j.State, j.LastError)
				break
			}
			if n := interruptions(j); j.Attempts-1 != n {
				report("chain %s, step %d (%s) ran %d times but only %d runs were cut short by a kill: %+v", root, step, id, j.Attempts, n, j.Errors)
			} else if j.Attempts > 1 {
				reruns++
			}
			var children []string
			if step < chainSteps {
				children = []string{worker.FollowUpID(id, 1)}
			}
			if j.Parent != parent || !slices.Equal(j.Children, children) {
				report("chain %s, step %d (%s): parent %q children %v, want %q %v", root, step, id, j.Parent, j.Children, parent, children)
				break
			}
			parent, id = id, worker.FollowUpID(id, 1)
		}
	}
	all, err := client.List(ctx, chainQueue, "", 100000)
	if err != nil {
		report("list queue %s: %v", chainQueue, err)
		return reruns, problems
	}
	children := map[string][]string{}
	for _, j := range all {
		if j.Parent != "" {
			children[j.Parent] = append(children[j.Parent], j.ID)
		}
	}
	for p, ids := range children {
		if len(ids) != 1 || ids[0] != worker.FollowUpID(p, 1) {
			report("job %s has the follow-ups %v in queue %s, want %s alone: a step ran as two jobs", p, ids, chainQueue, worker.FollowUpID(p, 1))
		}
	}
	return reruns, problems
}

// interruptions counts a job's runs that a kill cut short.
func interruptions(j *api.Job) int {
	n := 0
	for _, e := range j.Errors {
		if strings.Contains(e.Error, "was interrupted") {
			n++
		}
	}
	return n
}
