package rabbitmq

import (
	"fmt"
	"time"
)

// names derives the name of everything kiln declares on the broker from
// one prefix, so that several kiln installations (or tests) can share a
// vhost without seeing each other.
type names struct{ prefix string }

// jobsExchange (direct) routes a job to the work queue named by its
// routing key: the kiln queue's name. Producers publish here.
func (n names) jobsExchange() string { return n.prefix + ".jobs" }

// work is the quorum queue holding the jobs of kiln queue q.
func (n names) work(q string) string { return n.prefix + ".q." + q }

// deadExchange (direct) receives dead letters, routed by kiln queue name.
func (n names) deadExchange() string { return n.prefix + ".dead" }

// dead is the dead-letter queue of kiln queue q.
func (n names) dead(q string) string { return n.prefix + ".dead." + q }

// delayExchange (headers) routes a waiting job to the wait queue of the
// delay in its kiln-delay header, keeping the kiln queue as routing key.
func (n names) delayExchange() string { return n.prefix + ".delay" }

// wait is the wait queue of one step of the delay ladder.
func (n names) wait(step time.Duration) string {
	return fmt.Sprintf("%s.wait.%dms", n.prefix, step.Milliseconds())
}

// eventsExchange (topic) carries every job state change, routed as
// "<queue>.<state>", and the control events ("control.<what>").
func (n names) eventsExchange() string { return n.prefix + ".events" }

// records is the stream every kilnd reads the job records from.
func (n names) records() string { return n.prefix + ".records" }

// lead is the queue whose token makes its holder the one leader of name.
func (n names) lead(name string) string { return n.prefix + ".lead." + name }

// admit is the queue of the requests to admit jobs with unique keys,
// which the admission leader consumes.
func (n names) admit() string { return n.prefix + ".admit" }

// rate is the bucket of kiln queue q's rate tokens, shared by every host.
func (n names) rate(q string) string { return n.prefix + ".rate." + q }
