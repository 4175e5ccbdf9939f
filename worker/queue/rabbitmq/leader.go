package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// A lead is a quorum queue with a single active consumer that holds one
// message, the token: every process that wants the lead consumes the
// queue with a prefetch of one, the broker delivers only to its active
// consumer, and whoever holds the token unacked leads. When the leader's
// connection goes, the broker hands the token to the next consumer.
//
// The token's body is the lead's saved state: Save publishes a new token
// with the value (confirmed) and then acks the one in hand, so the queue
// never lacks a token and the next leader reads the last value saved. A
// second token (two processes declared the queue empty at once, or a
// leader died between the publish and the ack) only makes a value older
// than the newest visible for a moment: a leader keeps the greatest value
// it has seen.

// leadRetry is the pause before trying for a lead again after a problem.
const leadRetry = time.Second

var _ worker.Leader = (*Queue)(nil)

// Lead implements worker.Leader.
func (q *Queue) Lead(ctx context.Context, name string, run func(ctx context.Context, state worker.LeadState)) {
	// A lead needs every record: not before the records are read up to
	// the first connection, and the past of a host that joined.
	q.mu.Lock()
	synced := q.syncCh
	q.mu.Unlock()
	select {
	case <-synced:
	case <-ctx.Done():
		return
	}
	select {
	case <-q.PastRead():
	case <-ctx.Done():
		return
	}
	if q.opts.NoRecords {
		q.log.Info("this host keeps no job records: it does not lead", "lead", name)
		<-ctx.Done()
		return
	}
	for {
		err := q.leadOnce(ctx, name, run)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			q.log.Warn("lead: trying again", "lead", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(leadRetry):
		}
	}
}

// leadOnce waits for the token on the current link and runs run while
// this process holds it.
func (q *Queue) leadOnce(ctx context.Context, name string, run func(ctx context.Context, state worker.LeadState)) error {
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	if l == nil {
		return q.unavailable("lead " + name)
	}
	queue := q.names.lead(name)
	ch, err := l.conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel for lead %s on %s: %w", queue, l.url, err)
	}
	defer ch.Close()
	st, err := q.declareHandedBack(l, queue, amqp.Table{"x-single-active-consumer": true})
	if err != nil {
		return fmt.Errorf("lead %s: %w", name, err)
	}
	q.mu.Lock()
	q.declared[queue] = true
	q.mu.Unlock()
	if st.Messages == 0 && st.Consumers == 0 {
		if _, err := q.publishEach(l, []outgoing{{"", queue, tokenMessage(0, false)}}); err != nil {
			return fmt.Errorf("publish the token of lead %s: %w", queue, err)
		}
	}
	if err := ch.Qos(1, 0, false); err != nil {
		return fmt.Errorf("set prefetch on lead queue %s: %w", queue, err)
	}
	tokens, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume lead queue %s on %s: %w", queue, l.url, err)
	}
	closed := l.conn.NotifyClose(make(chan *amqp.Error, 1))
	var first amqp.Delivery
	select {
	case d, ok := <-tokens:
		if !ok {
			return fmt.Errorf("lead queue %s on %s: the channel closed", queue, l.url)
		}
		first = d
	case <-closed:
		return fmt.Errorf("lead %s: connection to %s lost", queue, l.url)
	case <-ctx.Done():
		return nil
	}
	s := &leadState{q: q, l: l, queue: queue, held: first, tokens: tokens}
	s.value, s.ok = tokenValue(first)
	q.log.Info("leading", "lead", name)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(runCtx, s)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	case <-done:
	case <-s.lost():
	}
	stop()
	<-done
	q.log.Info("no longer leading", "lead", name)
	return nil
}

// tokenMessage is a token holding value (none when !ok).
func tokenMessage(value uint64, ok bool) amqp.Publishing {
	msg := amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "text/plain"}
	if ok {
		msg.Body = []byte(strconv.FormatUint(value, 10))
	}
	return msg
}

func tokenValue(d amqp.Delivery) (uint64, bool) {
	v, err := strconv.ParseUint(string(d.Body), 10, 64)
	return v, err == nil
}

// leadState is the worker.LeadState of a lead held here.
type leadState struct {
	q      *Queue
	l      *link
	queue  string
	tokens <-chan amqp.Delivery

	mu       sync.Mutex
	held     amqp.Delivery
	value    uint64
	ok       bool
	lostOnce sync.Once
	lostCh   chan struct{}
}

func (s *leadState) lost() chan struct{} {
	s.lostOnce.Do(func() { s.lostCh = make(chan struct{}) })
	return s.lostCh
}

// Saved implements worker.LeadState.
func (s *leadState) Saved() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value, s.ok
}

// Save implements worker.LeadState: the new token first, then the ack of
// the one held, then the wait for the next token, which is the lead's
// again.
func (s *leadState) Save(ctx context.Context, v uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ok && v < s.value {
		v = s.value
	}
	if _, err := s.q.publishEach(s.l, []outgoing{{"", s.queue, tokenMessage(v, true)}}); err != nil {
		return fmt.Errorf("save lead %s: %w", s.queue, err)
	}
	if err := s.held.Ack(false); err != nil {
		s.close()
		return fmt.Errorf("save lead %s: ack the token: %w", s.queue, err)
	}
	select {
	case d, ok := <-s.tokens:
		if !ok {
			s.close()
			return fmt.Errorf("save lead %s: %w", s.queue, errLeadLost)
		}
		s.held = d
		if w, ok := tokenValue(d); ok && w > v {
			v = w
		}
	case <-ctx.Done():
		s.close()
		return ctx.Err()
	case <-time.After(confirmWithin):
		s.close()
		return fmt.Errorf("save lead %s: the token did not come back within %s", s.queue, confirmWithin)
	}
	s.value, s.ok = v, true
	return nil
}

var errLeadLost = errors.New("the lead was lost")

// close ends the lead: its run is stopped.
func (s *leadState) close() {
	ch := s.lost()
	select {
	case <-ch:
	default:
		close(ch)
	}
}
