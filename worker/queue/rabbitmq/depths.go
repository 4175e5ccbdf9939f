package rabbitmq

import (
	"fmt"
	"maps"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// depthCache is the last answer of Depths and of the oldest queued jobs;
// Queue.mu guards it.
type depthCache struct {
	depths   map[string]int // the last answer of Depths
	depthsAt time.Time
	oldest   map[string]time.Time // per queue, the oldest queued job's creation, as of oldestAt
	oldestAt time.Time
}

// How many jobs wait on the broker, per consumed queue, for the status.

// depthsFresh is how long an answer of Depths is given again rather than
// asked of the broker: a status poll in a tight loop must not load it.
const depthsFresh = 500 * time.Millisecond

// Depths answers, per consumed kiln queue, how many messages its work queue
// holds ready on the broker (not counting those delivered to consumers),
// as of at most depthsFresh ago.
func (q *Queue) Depths() (map[string]int, error) {
	q.mu.Lock()
	if q.depths != nil && time.Since(q.depthsAt) < depthsFresh && q.link != nil {
		out := maps.Clone(q.depths)
		q.mu.Unlock()
		return out, nil
	}
	l := q.link
	var names []string
	for name, qs := range q.queues {
		if qs.attach {
			names = append(names, name)
		}
	}
	q.mu.Unlock()
	if l == nil {
		return nil, q.unavailable("queue depths")
	}
	out := map[string]int{}
	err := l.declare(func(ch *amqp.Channel) error {
		for _, name := range names {
			st, err := ch.QueueDeclarePassive(q.names.work(name), true, false, false, false, nil)
			if err != nil {
				return fmt.Errorf("inspect queue %s on %s: %w", q.names.work(name), l.url, err)
			}
			out[name] = st.Messages
		}
		return nil
	})
	if err == nil {
		q.mu.Lock()
		q.depths, q.depthsAt = maps.Clone(out), time.Now()
		q.mu.Unlock()
	}
	return out, err
}
