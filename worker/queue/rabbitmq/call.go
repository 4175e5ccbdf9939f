package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// A request to another kilnd goes to a queue its server consumes, and the
// answer comes back by direct reply-to (amq.rabbitmq.reply-to): no queue
// of its own per asker, and an answer for an asker that is gone is
// dropped by the broker.
const directReplyTo = "amq.rabbitmq.reply-to"

// replies is the channel of one link on which this process asks and gets
// the answers, matched by correlation ID.
type replies struct {
	l  *link
	ch *amqp.Channel

	mu      sync.Mutex
	n       uint64
	waiting map[string]chan []byte
	closed  bool
}

// callers holds this process's replies channel; a new one is opened on the
// current link after a loss.
type callers struct {
	mu sync.Mutex
	r  *replies
}

// replies returns the replies channel of the current link, opening it
// (and declaring the admit queue, which every request of now goes to)
// when there is none.
func (q *Queue) replies() (*replies, error) {
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	return q.repliesOn(l)
}

// repliesOn is replies on link l, which a connection being set up uses
// before it is the current one.
func (q *Queue) repliesOn(l *link) (*replies, error) {
	if l == nil {
		return nil, q.unavailable("ask another kilnd")
	}
	c := &q.callers
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.r; r != nil && r.l == l {
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if !closed {
			return r, nil
		}
	}
	if err := q.declareAdmit(l); err != nil {
		return nil, err
	}
	ch, err := l.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel on %s: %w", l.url, err)
	}
	answers, err := ch.Consume(directReplyTo, "", true, false, false, false, nil)
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("consume %s on %s: %w", directReplyTo, l.url, err)
	}
	r := &replies{l: l, ch: ch, waiting: map[string]chan []byte{}}
	go r.deliver(answers)
	c.r = r
	return r, nil
}

// deliver hands each answer to its asker until the channel closes, and
// then tells the askers still waiting.
func (r *replies) deliver(answers <-chan amqp.Delivery) {
	for d := range answers {
		r.mu.Lock()
		wait := r.waiting[d.CorrelationId]
		delete(r.waiting, d.CorrelationId)
		r.mu.Unlock()
		if wait != nil {
			wait <- d.Body
		}
	}
	r.mu.Lock()
	r.closed = true
	for id, wait := range r.waiting {
		close(wait)
		delete(r.waiting, id)
	}
	r.mu.Unlock()
}

var errRepliesClosed = errors.New("the channel of the answers closed")

// call sends body to queue and waits for the answer, at most within.
func (q *Queue) call(ctx context.Context, queue string, body []byte, within time.Duration) ([]byte, error) {
	r, err := q.replies()
	if err != nil {
		return nil, err
	}
	return q.callWith(ctx, r, queue, body, within)
}

// callWith is call on the replies channel r.
func (q *Queue) callWith(ctx context.Context, r *replies, queue string, body []byte, within time.Duration) ([]byte, error) {
	wait := make(chan []byte, 1)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errRepliesClosed
	}
	r.n++
	id := strconv.FormatUint(r.n, 10)
	r.waiting[id] = wait
	r.mu.Unlock()
	forget := func() {
		r.mu.Lock()
		delete(r.waiting, id)
		r.mu.Unlock()
	}
	if err := r.ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{
		ContentType: "application/json", CorrelationId: id, ReplyTo: directReplyTo, Body: body,
	}); err != nil {
		forget()
		return nil, fmt.Errorf("ask on %s: %w", queue, err)
	}
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case b, ok := <-wait:
		if !ok {
			return nil, errRepliesClosed
		}
		return b, nil
	case <-timer.C:
		forget()
		return nil, fmt.Errorf("no answer on %s within %s", queue, within)
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	case <-q.closing:
		forget()
		return nil, errors.New("closing")
	}
}

// consumeRequests opens a channel on l that consumes the requests on
// queue, at most prefetch unanswered at a time.
func consumeRequests(l *link, queue string, prefetch int) (*amqp.Channel, <-chan amqp.Delivery, error) {
	ch, err := l.conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("open channel on %s: %w", l.url, err)
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("set prefetch on %s: %w", queue, err)
	}
	requests, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("consume %s on %s: %w", queue, l.url, err)
	}
	return ch, requests, nil
}

// reply sends the answer to a request by direct reply-to and acks the
// request. The answer is not confirmed: the asker's wait covers a lost
// one.
func (q *Queue) reply(ch *amqp.Channel, d amqp.Delivery, answer []byte) {
	if d.ReplyTo != "" {
		if err := ch.PublishWithContext(context.Background(), "", d.ReplyTo, false, false, amqp.Publishing{
			ContentType: "application/json", CorrelationId: d.CorrelationId, Body: answer,
		}); err != nil {
			q.log.Warn("answer to another kilnd not sent", "queue", d.RoutingKey, "err", err)
		}
	}
	d.Ack(false)
}
