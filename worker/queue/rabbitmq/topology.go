package rabbitmq

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// recordsMaxBytes bounds the records stream; its oldest segments go first.
// Finished jobs stay readable until their events age out of it.
const (
	recordsMaxBytes   = 2 << 30
	recordsSegmentMax = 32 << 20
)

// declare runs fn on a channel of its own: a declaration the broker
// refuses closes its channel, and must not take the publish channels down
// with it.
func (l *link) declare(fn func(ch *amqp.Channel) error) error {
	ch, err := l.conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel on %s: %w", l.url, err)
	}
	defer ch.Close()
	return fn(ch)
}

// declareBase declares what every kiln queue shares: the exchanges and the
// records stream.
func (q *Queue) declareBase(l *link) error {
	n := q.names
	return l.declare(func(ch *amqp.Channel) error {
		for _, ex := range []struct{ name, kind string }{
			{n.jobsExchange(), amqp.ExchangeDirect},
			{n.deadExchange(), amqp.ExchangeDirect},
			{n.delayExchange(), amqp.ExchangeHeaders},
			{n.eventsExchange(), amqp.ExchangeTopic},
		} {
			if err := ch.ExchangeDeclare(ex.name, ex.kind, true, false, false, false, nil); err != nil {
				return fmt.Errorf("declare exchange %s on %s: %w", ex.name, l.url, err)
			}
		}
		if _, err := ch.QueueDeclare(n.records(), true, false, false, false, amqp.Table{
			"x-queue-type":                    "stream",
			"x-max-length-bytes":              cmp.Or(q.opts.RecordsMaxBytes, recordsMaxBytes),
			"x-stream-max-segment-size-bytes": int64(cmp.Or(q.opts.RecordsSegmentBytes, recordsSegmentMax)),
		}); err != nil {
			return fmt.Errorf("declare stream %s on %s: %w", n.records(), l.url, err)
		}
		if err := ch.QueueBind(n.records(), "#", n.eventsExchange(), false, nil); err != nil {
			return fmt.Errorf("bind stream %s to %s on %s: %w", n.records(), n.eventsExchange(), l.url, err)
		}
		return nil
	})
}

// queueConfig is a queue's current settings, or the defaults.
func (q *Queue) queueConfig(name string) worker.QueueConfig {
	if cfg, ok := q.opts.Queues()[name]; ok {
		return cfg
	}
	return worker.DefaultQueueConfig()
}

// declareQueue declares kiln queue name's work queue and dead-letter queue.
// A work queue declared earlier with other limits keeps them (RabbitMQ
// cannot change a queue's arguments): that is logged, and the queue used
// as it is.
func (q *Queue) declareQueue(l *link, name string) error {
	n := q.names
	cfg := q.queueConfig(name)
	args := amqp.Table{
		"x-queue-type":              "quorum",
		"x-delivery-limit":          int64(max(cfg.MaxAttempts, 1)),
		"x-overflow":                "reject-publish",
		"x-dead-letter-exchange":    n.deadExchange(),
		"x-dead-letter-strategy":    "at-least-once",
		"x-dead-letter-routing-key": name,
	}
	maxQueued := cfg.MaxQueued
	if q.opts.MaxQueued != nil {
		maxQueued = q.opts.MaxQueued(name)
	}
	if maxQueued > 0 {
		args["x-max-length"] = int64(maxQueued)
	}
	if err := q.declareDead(l, name); err != nil {
		return err
	}
	return l.declare(func(ch *amqp.Channel) error {
		if err := ch.QueueBind(n.dead(name), name, n.deadExchange(), false, nil); err != nil {
			return fmt.Errorf("bind queue %s on %s: %w", n.dead(name), l.url, err)
		}
		if _, err := ch.QueueDeclare(n.work(name), true, false, false, false, args); err != nil {
			var aerr *amqp.Error
			if !errors.As(err, &aerr) || aerr.Code != amqp.PreconditionFailed {
				return fmt.Errorf("declare queue %s on %s: %w", n.work(name), l.url, err)
			}
			q.log.Warn("work queue exists with other limits; it keeps them (delete it, or set a policy, to change them)",
				"queue", n.work(name), "err", aerr.Reason)
			return l.declare(func(ch *amqp.Channel) error {
				if _, err := ch.QueueDeclarePassive(n.work(name), true, false, false, false, nil); err != nil {
					return fmt.Errorf("declare queue %s on %s: %w", n.work(name), l.url, err)
				}
				return q.bindWork(l, ch, name)
			})
		}
		return q.bindWork(l, ch, name)
	})
}

// deadDeliveryLimit is the dead-letter queues' x-delivery-limit: in
// effect none. A sweep reads a dead-letter queue through and hands back
// what it keeps, and each hand-back counts as a delivery; RabbitMQ 4.0
// gives a quorum queue a delivery limit of 20 by default and then drops
// the message (a dead-letter queue has no dead-letter exchange of its
// own). -1 is not "none" on 3.10, 2^31-1 is on both.
const deadDeliveryLimit = 1<<31 - 1

// declareDead declares the dead-letter queue of a kiln queue. One declared
// before, without the limit, keeps its arguments (the broker refuses to
// change them): on RabbitMQ 4.0 its dead jobs are dropped after 20
// sweeps unless a policy lifts the limit, and the log says how.
func (q *Queue) declareDead(l *link, name string) error {
	dead := q.names.dead(name)
	err := l.declare(func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(dead, true, false, false, false, amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int64(deadDeliveryLimit)})
		return err
	})
	var aerr *amqp.Error
	if err == nil {
		return nil
	}
	if !errors.As(err, &aerr) || aerr.Code != amqp.PreconditionFailed {
		return fmt.Errorf("declare queue %s on %s: %w", dead, l.url, err)
	}
	if l.major >= 4 {
		q.log.Error("dead-letter queue was declared without a delivery limit; RabbitMQ 4.0 drops its dead jobs after 20 sweeps: lift the limit with a policy",
			"queue", dead, "command", fmt.Sprintf(`rabbitmqctl set_policy --apply-to quorum_queues kiln-dead-letters '^%s$' '{"delivery-limit": -1}'`, regexp.QuoteMeta(dead)), "err", aerr.Reason)
	}
	return l.declare(func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclarePassive(dead, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare queue %s on %s: %w", dead, l.url, err)
		}
		return nil
	})
}

func (q *Queue) bindWork(l *link, ch *amqp.Channel, name string) error {
	if err := ch.QueueBind(q.names.work(name), name, q.names.jobsExchange(), false, nil); err != nil {
		return fmt.Errorf("bind queue %s to %s on %s: %w", q.names.work(name), q.names.jobsExchange(), l.url, err)
	}
	return nil
}

// declareStep declares one wait queue of the delay ladder: messages expire
// after step and are dead-lettered, with their routing key (the kiln
// queue's name), back through the jobs exchange into their work queue.
func (q *Queue) declareStep(l *link, step time.Duration) error {
	n := q.names
	return l.declare(func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclare(n.wait(step), true, false, false, false, amqp.Table{
			"x-queue-type":           "quorum",
			"x-message-ttl":          step.Milliseconds(),
			"x-overflow":             "reject-publish",
			"x-dead-letter-exchange": n.jobsExchange(),
			"x-dead-letter-strategy": "at-least-once",
		}); err != nil {
			return fmt.Errorf("declare wait queue %s on %s: %w", n.wait(step), l.url, err)
		}
		if err := ch.QueueBind(n.wait(step), "", n.delayExchange(), false, amqp.Table{
			"x-match": "all",
			hdrDelay:  strconv.FormatInt(step.Milliseconds(), 10),
		}); err != nil {
			return fmt.Errorf("bind wait queue %s on %s: %w", n.wait(step), l.url, err)
		}
		return nil
	})
}

// Declared lists the queues and exchanges this Queue declared, so that a
// test can delete them.
func (q *Queue) Declared() (queues, exchanges []string) {
	n := q.names
	q.mu.Lock()
	defer q.mu.Unlock()
	for name := range q.declared {
		queues = append(queues, name)
	}
	queues = append(queues, n.records())
	exchanges = []string{n.jobsExchange(), n.deadExchange(), n.delayExchange(), n.eventsExchange()}
	return queues, exchanges
}
