package rabbitmq

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
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
		return q.declareControl(ch, l.url)
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

// unlimitedDeliveries is the x-delivery-limit of the queues whose
// messages are handed back by design, any number of times: the
// dead-letter queues (a sweep reads one through and hands back what it
// keeps) and the lead queues (the token goes back each time its holder
// lets go or dies). RabbitMQ 4.0 gives a quorum queue a delivery limit of
// 20 by default and then drops the message (neither kind has a
// dead-letter exchange). -1 is not "none" on 3.10, 2^31-1 is on both.
const unlimitedDeliveries = 1<<31 - 1

// declareHandedBack declares queue, a quorum queue with args whose
// messages are handed back by design (see unlimitedDeliveries), and
// returns its state. One declared before without the limit keeps its
// arguments (the broker refuses to change them) and is used as it is: on
// RabbitMQ 4.0 it would drop a message at its 20th hand-back, and the log
// says which policy lifts the limit.
func (q *Queue) declareHandedBack(l *link, queue string, args amqp.Table) (amqp.Queue, error) {
	declared := amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int64(unlimitedDeliveries)}
	for k, v := range args {
		declared[k] = v
	}
	var st amqp.Queue
	err := l.declare(func(ch *amqp.Channel) (err error) {
		st, err = ch.QueueDeclare(queue, true, false, false, false, declared)
		return err
	})
	if err == nil {
		return st, nil
	}
	var aerr *amqp.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp.PreconditionFailed {
		return st, fmt.Errorf("declare queue %s on %s: %w", queue, l.url, err)
	}
	if l.major >= 4 {
		q.log.Error("queue was declared by an older kilnd without a delivery limit; RabbitMQ 4.0 drops a message handed back 20 times: lift the limit with a policy",
			"queue", queue, "command", "rabbitmqctl "+shellLine(q.names.deliveryLimitPolicy()), "err", aerr.Reason)
	}
	err = l.declare(func(ch *amqp.Channel) (err error) {
		st, err = ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("declare queue %s on %s: %w", queue, l.url, err)
	}
	return st, nil
}

// deliveryLimitPolicy is the rabbitmqctl arguments of the policy that
// lifts the delivery limit of the dead-letter and lead queues an older
// kilnd declared: one policy for the prefix, so that it covers the
// queues of every kiln queue, including those added later.
func (n names) deliveryLimitPolicy() []string {
	return []string{"set_policy", "--apply-to", "quorum_queues", n.prefix + "-handed-back",
		"^" + regexp.QuoteMeta(n.prefix) + `\.(dead|lead)\.`, `{"delivery-limit": -1}`}
}

// shellLine is args as one line for a POSIX shell.
func shellLine(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, ` "'\\$^|(){}*?`) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		quoted[i] = a
	}
	return strings.Join(quoted, " ")
}

// declareDead declares the dead-letter queue of a kiln queue.
func (q *Queue) declareDead(l *link, name string) error {
	_, err := q.declareHandedBack(l, q.names.dead(name), nil)
	return err
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
