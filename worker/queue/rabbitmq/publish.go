package rabbitmq

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// confirmWithin bounds the wait for publisher confirms: a connection on
// which the broker neither confirms nor fails in that time is given up and
// made anew. (Events, which go to a stream, have a shorter first wait and
// a channel of their own: see eventConfirmFirst.)
const confirmWithin = 5 * time.Second

// outgoing is one message to publish.
type outgoing struct {
	exchange, key string
	msg           amqp.Publishing
}

// nackError is a publish the broker refused: a queue at its length limit
// (reject-publish) or a queue without a leader.
type nackError struct{ exchange, key string }

func (e *nackError) Error() string {
	return fmt.Sprintf("the broker refused the message for %s (routing key %q)", e.exchange, e.key)
}

// publishEach publishes msgs in one pipelined window and returns once the
// broker has confirmed all of them, or with the first problem, saying per
// message whether the broker took it. A confirm that does not come within
// confirmWithin makes the connection anew.
func (q *Queue) publishEach(l *link, msgs []outgoing) ([]bool, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	if l == nil {
		return nil, q.unavailable("publish")
	}
	acked, timedOut, err := q.publishOn(l, l.pub(), msgs, confirmWithin)
	if timedOut {
		q.reconnectUnconfirmed(l, confirmWithin)
	}
	return acked, err
}

// reconnectUnconfirmed gives up a connection on which the broker neither
// confirmed nor failed a publish in time.
func (q *Queue) reconnectUnconfirmed(l *link, waited time.Duration) {
	q.log.Error("no publisher confirm in time; reconnecting", "url", l.url, "waited", waited)
	go l.conn.CloseDeadline(time.Now().Add(closeWithin))
}

// publishOn publishes msgs on ch in one pipelined window and waits up to
// within for their confirms: per message whether the broker took it,
// whether a confirm failed to come in time, and the first problem.
func (q *Queue) publishOn(l *link, ch *amqp.Channel, msgs []outgoing, within time.Duration) ([]bool, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	confirms := make([]*amqp.DeferredConfirmation, len(msgs))
	acked := make([]bool, len(msgs))
	timedOut := false
	var firstErr error
	for i, m := range msgs {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, m.exchange, m.key, false, false, m.msg)
		if err != nil {
			firstErr = fmt.Errorf("publish to %s on %s: %w: %v", m.exchange, l.url, worker.ErrUnavailable, err)
			break
		}
		confirms[i] = dc
	}
	for i, dc := range confirms {
		if dc == nil {
			continue
		}
		ok, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			timedOut = true
			if firstErr == nil {
				firstErr = fmt.Errorf("confirm from %s: %w: no answer within %s", l.url, worker.ErrUnavailable, within)
			}
		case !ok && ch.IsClosed():
			// A channel that closes nacks every pending confirm: the
			// message may or may not have been taken.
			if firstErr == nil {
				firstErr = fmt.Errorf("publish to %s on %s: %w: connection lost before the broker confirmed", msgs[i].exchange, l.url, worker.ErrUnavailable)
			}
		case !ok:
			if firstErr == nil {
				firstErr = &nackError{msgs[i].exchange, msgs[i].key}
			}
		default:
			acked[i] = true
		}
	}
	return acked, timedOut, firstErr
}

// ensureStep declares a wait queue of the ladder once per link.
func (q *Queue) ensureStep(l *link, step time.Duration) error {
	if step == 0 {
		return nil
	}
	name := q.names.wait(step)
	q.mu.Lock()
	done := q.declared[name] && q.stepsOn[name] == l
	q.mu.Unlock()
	if done {
		return nil
	}
	if err := q.declareStep(l, step); err != nil {
		return err
	}
	q.mu.Lock()
	q.declared[name] = true
	q.stepsOn[name] = l
	q.mu.Unlock()
	return nil
}
