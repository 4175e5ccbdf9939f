package worker

// NotifyTarget is implemented by a kind whose jobs may name where their
// end is announced (an image job: its pipeline's notify_url). The queue's
// notify_url applies when it answers "".
type NotifyTarget interface {
	NotifyURL(j *JobRecord) string
}
