package image

import "kiln/worker"

var _ worker.NotifyTarget = (*Kind)(nil)

// NotifyURL implements worker.NotifyTarget: an image job's end is
// announced to its pipeline's notify_url.
func (k *Kind) NotifyURL(j *worker.Job) string {
	p, err := ParsePayload(j.Payload)
	if err != nil {
		return ""
	}
	return k.settings().Pipelines[p.Pipeline].NotifyURL
}
