package worker

// JobDescriber is implemented by a kind that can say what one of its jobs
// is in words of its own, for the control API and the dashboard, which
// know no kind's payload or result. A kind whose jobs write files says
// which through OutputLister.
type JobDescriber interface {
	Describe(j *JobRecord) JobDescription
}

// JobDescription is a job as its kind describes it.
type JobDescription struct {
	// Summary is one line, such as "pipeline web: /srv/in/a.jpg".
	Summary string
	// Input is what the job reads, such as a path; "" for nothing in
	// particular.
	Input string
}
