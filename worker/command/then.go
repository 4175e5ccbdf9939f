package command

import (
	"encoding/json"
	"fmt"
	"strings"

	"kiln/worker"
)

// A command's then names the steps that follow each of its jobs that
// succeeds: job types (another command's name, image, noop), each a
// follow-up whose payload is the program's result. A command followed by
// image feeds a pipeline: its program prints {"pipeline": NAME, "input":
// PATH}, which the image kind checks as it checks a submit.
//
// Commands whose thens lead back to one of them are refused: every
// success makes the next step, so such a chain would only end when it
// reached worker.MaxChainSteps, its last step failing for good. A chain
// that passes through an image job cannot be followed from the config
// (the step before names the pipeline at run time); MaxChainSteps bounds
// it.

var (
	_ worker.FollowUpper   = (*Kind)(nil)
	_ worker.JobTypeLister = (*Tables)(nil)
)

// FollowUps implements worker.FollowUpper: one follow-up per entry of the
// table's then as the config in effect has it, so that a reload applies to
// every job that finishes after it.
func (k *Kind) FollowUps(*worker.JobRecord, json.RawMessage) []worker.FollowUp {
	cfg, ok := k.settings()
	if !ok {
		return nil
	}
	return worker.ThenFollowUps(cfg.Then)
}

// JobTypes implements worker.JobTypeLister: each command is a job type.
func (t *Tables) JobTypes() []string { return t.names() }

// checkThen reports the entries of command name's then that no follow-up
// could run as, and those that lead back to name.
func (t *Tables) checkThen(name string, view *worker.ConfigView, problems worker.Problems) {
	for i, next := range t.Commands[name].Then {
		key := fmt.Sprintf("commands.%s.then[%d]", name, i)
		if msg := worker.ThenProblem(next, view); msg != "" {
			problems.Report(key, msg)
			continue
		}
		if path := t.pathTo(next, name, map[string]bool{}); path != nil {
			problems.Report(key, fmt.Sprintf("%q leads back to %s (%s -> %s): a chain may not loop, or it would run until its %dth step and fail there",
				next, name, name, strings.Join(path, " -> "), worker.MaxChainSteps))
		}
	}
}

// pathTo is the commands from one to another along their thens, both
// included (nil when there is no such path); seen are the commands already
// walked from.
func (t *Tables) pathTo(from, to string, seen map[string]bool) []string {
	c, ok := t.Commands[from]
	if !ok || seen[from] {
		return nil
	}
	if from == to {
		return []string{to}
	}
	seen[from] = true
	for _, next := range c.Then {
		if rest := t.pathTo(next, to, seen); rest != nil {
			return append([]string{from}, rest...)
		}
	}
	return nil
}

// reloadThen refuses a reload whose thens name a job type the running
// kilnd lacks (worker.ReloadThenProblem).
func (t *Tables) reloadThen(kind func(string) worker.Kind, problems worker.Problems) {
	for _, name := range t.names() {
		for i, next := range t.Commands[name].Then {
			if msg := worker.ReloadThenProblem(next, kind); msg != "" {
				problems.Report(fmt.Sprintf("commands.%s.then[%d]", name, i), msg)
			}
		}
	}
}
