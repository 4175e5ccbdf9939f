package rabbitmq

import (
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The delay ladder: wait queues of fixed TTL, each four times the one
// before, from 125 ms to about 36 hours. A job due later than the hold
// window goes to the longest step that ends at least holdMargin before it
// is due; when it comes back into its work queue early, the consumer sends
// it down the ladder again, and a job due within the smallest step is held
// by the consumer (unacked, so a crash loses nothing) until it is due. A job
// therefore becomes leasable at its run_at, give or take the broker's TTL
// timer; a delay of d takes at most about 3·log4(d/125ms) hops.
var ladder = func() []time.Duration {
	var steps []time.Duration
	for s := 125 * time.Millisecond; s <= 40*time.Hour; s *= 4 {
		steps = append(steps, s)
	}
	return steps
}()

// holdMargin is how early a job comes back from the ladder: time for the
// broker's dead-lettering and the delivery, so that the job is in hand
// when it is due.
const holdMargin = 100 * time.Millisecond

// ladderStep is the wait queue a job due in remaining goes to, or zero when
// it is due soon enough to be held by a consumer.
func ladderStep(remaining time.Duration) time.Duration {
	var step time.Duration
	for _, s := range ladder {
		if s <= remaining-holdMargin {
			step = s
		}
	}
	return step
}

// route returns where a job message due at due is published: its work
// queue, or the wait queue that brings it back in time.
func (q *Queue) route(queue string, due time.Time, msg *amqp.Publishing) (exchange, key string, step time.Duration) {
	step = ladderStep(time.Until(due))
	if step == 0 {
		return q.names.jobsExchange(), queue, 0
	}
	msg.Headers[hdrDelay] = strconv.FormatInt(step.Milliseconds(), 10)
	return q.names.delayExchange(), queue, step
}
