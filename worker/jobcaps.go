package worker

import "time"

// A job's own max_attempts and timeout may ask for less than its queue
// allows, never for more. The daemon refuses a submit that asks for more;
// these hold every job to it when it runs, whatever path it came by (a
// message another AMQP client published, a job stored before its queue's
// limits were lowered).

// AttemptsFor is how many attempts j gets in a queue of this config: its
// own max_attempts, at most the queue's, and the queue's when it names
// none.
func (c QueueConfig) AttemptsFor(j *JobRecord) int {
	if c.MaxAttempts > 0 && (j.MaxAttempts <= 0 || j.MaxAttempts > c.MaxAttempts) {
		return c.MaxAttempts
	}
	return j.MaxAttempts
}

// TimeoutFor is how long one attempt of j may run in a queue of this
// config: its own timeout, at most the queue's; zero means no limit.
func (c QueueConfig) TimeoutFor(j *JobRecord) time.Duration {
	if j.Timeout > 0 && (c.Timeout <= 0 || j.Timeout < c.Timeout) {
		return j.Timeout.Std()
	}
	return c.Timeout.Std()
}
