package image

import "kiln/worker"

var _ worker.NotifyTarget = (*JobKind)(nil)

// NotifyURL implements worker.NotifyTarget: an image job's end is
// announced to its pipeline's notify_url.
func (k *JobKind) NotifyURL(j *worker.JobRecord) string {
	p, err := ParsePayload(j.Payload)
	if err != nil {
		return ""
	}
	return k.settings().Pipelines[p.Pipeline].NotifyURL
}
