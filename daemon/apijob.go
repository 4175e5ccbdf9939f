package daemon

import (
	"kiln/api"
	"kiln/worker"
)

// apiJob is a stored job as the API shows it: the queue's own bookkeeping
// (lease expiry, a pending cancel) stays inside, and the job's kind
// describes it in words any client can show.
func (d *daemon) apiJob(j *worker.JobRecord) *api.Job {
	a := storedJob(j)
	a.Description = d.describe(j)
	if j.State == worker.StateRunning && d.pool != nil {
		if p, ok := d.pool.Progress(j.ID); ok {
			a.Progress = &p
		}
	}
	return a
}

// storedJob is a stored job's fields as the API names them.
func storedJob(j *worker.JobRecord) *api.Job {
	return &api.Job{
		ID: j.ID, Queue: j.Queue, Type: j.Type, Payload: j.Payload, Priority: j.Priority,
		RunAt: j.RunAt, Attempts: j.Attempts, MaxAttempts: j.MaxAttempts, Timeout: j.Timeout,
		UniqueKey: j.UniqueKey, State: j.State, LastError: j.LastError, Errors: j.Errors,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt, Result: j.Result,
		Parent: j.Parent, Children: j.Children,
	}
}

// describe is a job in its kind's words (worker.JobDescriber), with the
// files it wrote (worker.OutputLister); nil when the kind says nothing.
func (d *daemon) describe(j *worker.JobRecord) *api.JobDescription {
	var desc api.JobDescription
	kind := d.kinds[j.Type]
	if k, ok := kind.(worker.JobDescriber); ok {
		w := k.Describe(j)
		desc.Summary, desc.Input = w.Summary, w.Input
	}
	if _, files := d.outputs(j); len(files) > 0 {
		desc.Outputs = make([]api.OutputFile, len(files))
		for i, f := range files {
			desc.Outputs[i] = api.OutputFile{Name: f.Name, Path: f.Path, Format: f.Format, Width: f.Width, Height: f.Height, Bytes: f.Bytes}
		}
	}
	if desc.Summary == "" && desc.Input == "" && desc.Outputs == nil {
		return nil
	}
	return &desc
}

// outputs are the files a succeeded job wrote and the directory they must
// be inside, as its kind lists them (worker.OutputLister).
func (d *daemon) outputs(j *worker.JobRecord) (string, []worker.OutputFile) {
	if l, ok := d.kinds[j.Type].(worker.OutputLister); ok && j.State == worker.StateSucceeded {
		return l.Outputs(j)
	}
	return "", nil
}

// submitted is how a submit is answered: without the payload, which the
// submitter has and which echoed back would double the work of a submit,
// and without the description, which would tell the submitter nothing new.
func submitted(j *worker.JobRecord, duplicate bool) *api.Submitted {
	a := storedJob(j)
	a.Payload = nil
	return &api.Submitted{Job: *a, Duplicate: duplicate}
}
