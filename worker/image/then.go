package image

import (
	"encoding/json"
	"fmt"

	"kiln/worker"
)

// A pipeline's then names the steps that follow each of its jobs that
// succeeds: job types, such as a command's name, each a follow-up whose
// payload is the image job's result (the outputs written). A pipeline is
// no job type: a step into one is an image job, whose payload names the
// pipeline, so it follows a command that prints such a payload (then =
// ["image"] on that command).

var (
	_ worker.FollowUpper   = (*JobKind)(nil)
	_ worker.JobTypeLister = (*Config)(nil)
)

// FollowUps implements worker.FollowUpper: one follow-up per entry of the
// then of the job's pipeline as the config in effect has it, so that a
// reload applies to every job that finishes after it.
func (k *JobKind) FollowUps(job *worker.JobRecord, _ json.RawMessage) []worker.FollowUp {
	p, err := ParsePayload(job.Payload)
	if err != nil {
		return nil
	}
	return worker.ThenFollowUps(k.settings().Pipelines[p.Pipeline].Then)
}

// JobTypes implements worker.JobTypeLister: image, whatever the pipelines,
// since the kind always runs.
func (c *Config) JobTypes() []string { return []string{JobType} }

// checkThen reports the entries of pipeline name's then that no follow-up
// could run as.
func (c *Config) checkThen(name string, view *worker.ConfigView, problems worker.Problems) {
	for i, t := range c.Pipelines[name].Then {
		msg := worker.ThenProblem(t, view)
		_, isPipeline := c.Pipelines[t]
		switch {
		case t == JobType:
			// Every such follow-up would be refused, and its parent
			// with it: say so now.
			msg = `an image job's result lists the outputs written, and no image job takes that as its payload: a step into a pipeline is an image job after a command that prints {"pipeline": NAME, "input": PATH}`
		case msg != "" && isPipeline:
			msg = fmt.Sprintf(`%q is a pipeline, not a job type: a step into it is an image job, after a command that prints {"pipeline": %q, "input": PATH}`, t, t)
		}
		if msg != "" {
			problems.Report(fmt.Sprintf("pipelines.%s.then[%d]", name, i), msg)
		}
	}
}

// reloadThen refuses a reload whose thens name a job type the running
// kilnd lacks (worker.ReloadThenProblem).
func reloadThen(next *Config, kind func(string) worker.Kind, problems worker.Problems) {
	for _, name := range next.pipelineNames() {
		for i, t := range next.Pipelines[name].Then {
			if msg := worker.ReloadThenProblem(t, kind); msg != "" {
				problems.Report(fmt.Sprintf("pipelines.%s.then[%d]", name, i), msg)
			}
		}
	}
}
