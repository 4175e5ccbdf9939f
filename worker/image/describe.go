package image

import "kiln/worker"

var _ worker.JobDescriber = (*JobKind)(nil)

// Describe implements worker.JobDescriber: the pipeline and the picture.
func (k *JobKind) Describe(j *worker.JobRecord) worker.JobDescription {
	p, err := ParsePayload(j.Payload)
	if err != nil {
		return worker.JobDescription{}
	}
	return worker.JobDescription{Summary: "pipeline " + p.Pipeline + ": " + p.Input, Input: p.Input}
}
