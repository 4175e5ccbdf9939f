package rabbitmq

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// A queue's rate holds for the fleet through a bucket of tokens on the
// broker: the quorum queue P.rate.Q, one message per token.
//
// The holder of the lead "rate.Q" fills it: every fill interval it adds
// the tokens the rate has earned since, up to the burst less the tokens
// ready in the bucket and the one each consumer may hold in hand, so that
// an idle queue's tokens stop at its burst and a busy one gets the rate.
// Every host consumes the bucket with a prefetch of one and acks a token
// when it starts a job on it. So the fleet starts at most burst jobs at
// once (two more than the hosts, when the burst is less than that; see
// bucketSize) and the rate after, however many hosts share the queue
// and whichever of them has the jobs: a host with none holds one token
// and the broker hands the rest to those that ask. A token in the hand of
// a host that dies goes back to the bucket with its channel.

var _ worker.FleetRates = (*Queue)(nil)

// fleetRates is this host's side of the rate buckets; its own mutex
// guards it, never held with Queue.mu.
type fleetRates struct {
	mu sync.Mutex
	// held is, per queue whose consumer and fill lead run, the tokens of
	// its bucket this host holds.
	held map[string][]amqp.Delivery
	wg   sync.WaitGroup // the consumers and fill leads, for Close
}

// HeldRateTokens implements worker.FleetRates. The first ask for a queue
// starts its consumer and its competition for the fill lead.
func (q *Queue) HeldRateTokens(queue string) int {
	r := &q.rates
	r.mu.Lock()
	defer r.mu.Unlock()
	tokens, started := r.held[queue]
	if !started {
		if q.isClosing() {
			return 0 // Close waits for what was started, and no more
		}
		if r.held == nil {
			r.held = map[string][]amqp.Delivery{}
		}
		r.held[queue] = nil
		r.wg.Add(2)
		go q.consumeRateTokens(queue)
		go q.leadRateFill(queue)
	}
	return len(tokens)
}

// SpendRateTokens implements worker.FleetRates.
func (q *Queue) SpendRateTokens(queue string, n int) {
	r := &q.rates
	r.mu.Lock()
	held, started := r.held[queue]
	n = min(n, len(held))
	spent := held[:n]
	if started {
		r.held[queue] = held[n:]
	}
	r.mu.Unlock()
	for _, d := range spent {
		// An ack lost with its channel hands the token back to the bucket:
		// a job more at that moment, never one less.
		if err := d.Ack(false); err != nil {
			q.log.Debug("rate token not acked", "queue", queue, "err", err)
		}
	}
}

// declareRate declares the bucket of a queue's rate.
func (q *Queue) declareRate(l *link, queue string) error {
	name := q.names.rate(queue)
	if _, err := q.declareHandedBack(l, name, nil); err != nil {
		return fmt.Errorf("rate of %s: %w", queue, err)
	}
	q.mu.Lock()
	q.declared[name] = true
	q.mu.Unlock()
	return nil
}

// consumeRateTokens keeps one token of queue's bucket in hand, on each
// link in turn, until the Queue closes.
func (q *Queue) consumeRateTokens(queue string) {
	defer q.rates.wg.Done()
	for {
		err := q.consumeRateTokensOnce(queue)
		q.rates.mu.Lock()
		q.rates.held[queue] = nil // they went back with the channel
		q.rates.mu.Unlock()
		if err != nil {
			q.log.Debug("rate tokens: trying again", "queue", queue, "err", err)
		}
		select {
		case <-q.closing:
			return
		case <-time.After(leadRetry):
		}
	}
}

func (q *Queue) consumeRateTokensOnce(queue string) error {
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	if l == nil {
		return q.unavailable("rate tokens of " + queue)
	}
	if err := q.declareRate(l, queue); err != nil {
		return err
	}
	ch, err := l.conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel for the rate of %s on %s: %w", queue, l.url, err)
	}
	defer ch.Close()
	if err := ch.Qos(1, 0, false); err != nil {
		return fmt.Errorf("set prefetch on %s: %w", q.names.rate(queue), err)
	}
	tokens, err := ch.Consume(q.names.rate(queue), "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s on %s: %w", q.names.rate(queue), l.url, err)
	}
	for {
		select {
		case <-q.closing:
			return nil
		case d, ok := <-tokens:
			if !ok {
				return fmt.Errorf("consume %s on %s: the channel closed", q.names.rate(queue), l.url)
			}
			q.rates.mu.Lock()
			q.rates.held[queue] = append(q.rates.held[queue], d)
			q.rates.mu.Unlock()
			q.signalReady()
		}
	}
}

// leadRateFill competes for the lead that fills queue's bucket until the
// Queue closes.
func (q *Queue) leadRateFill(queue string) {
	defer q.rates.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-q.closing
		cancel()
	}()
	q.Lead(ctx, "rate."+queue, func(ctx context.Context, _ worker.LeadState) { q.fillRate(ctx, queue) })
}

// fillInterval is how often a bucket is filled at a rate: about once a
// token, within bounds that keep a fast rate exact and a slow one cheap.
func fillInterval(r worker.Rate) time.Duration {
	d := time.Duration(float64(time.Second) / r.PerSecond())
	return min(max(d, 10*time.Millisecond), time.Second)
}

// bucketSize is how many tokens a bucket may hold ready so that the fleet
// starts at most burst jobs at once: each consumer of the bucket holds a
// token in hand besides (its prefetch of one), and those count toward the
// burst too. A bucket always holds at least one, or with no more burst
// than hosts none would ever start; with a burst less than two more than
// the hosts, the fleet starts at most two more than the hosts at once
// (the ready token, one in each hand, and the one on its way).
func bucketSize(burst, consumers int) int {
	return max(burst-consumers, 1)
}

// fillRate fills queue's bucket while this process leads its fill.
func (q *Queue) fillRate(ctx context.Context, queue string) {
	q.mu.Lock()
	l := q.link
	q.mu.Unlock()
	if l == nil {
		return
	}
	if err := q.declareRate(l, queue); err != nil {
		q.log.Warn("rate fill let go", "queue", queue, "err", err)
		return
	}
	ch, err := l.conn.Channel()
	if err != nil {
		q.log.Warn("rate fill let go", "queue", queue, "err", err)
		return
	}
	defer ch.Close()
	bucket := q.names.rate(queue)
	last := time.Now()
	earned := 0.0    // tokens the rate gave since the last fill, not yet added
	wasFull := false // the last fill left the bucket full
	for {
		cfg := q.queueConfig(queue)
		interval := time.Second
		if cfg.Rate.Limited() {
			interval = fillInterval(cfg.Rate)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		now := time.Now()
		burst := worker.BurstOf(cfg)
		if !cfg.Rate.Limited() {
			earned, last = 0, now
			continue
		}
		// A bucket the last fill left full may have been full until a
		// moment ago: what the rate gave since then would join the burst
		// of the jobs that emptied it. It earns again from this look.
		if !wasFull {
			earned = min(earned+now.Sub(last).Seconds()*cfg.Rate.PerSecond(), float64(burst))
		}
		last = now
		st, err := ch.QueueDeclarePassive(bucket, true, false, false, false, nil)
		if err != nil {
			q.log.Warn("rate fill let go", "queue", queue, "err", fmt.Errorf("inspect %s on %s: %w", bucket, l.url, err))
			return
		}
		size := bucketSize(burst, st.Consumers)
		room := size - st.Messages
		n := max(min(int(earned), room), 0)
		// A bucket of one is full after nearly every fill of a busy
		// queue, its token on the way to a host: it keeps earning, or the
		// queue would get half its rate.
		wasFull = room-n <= 0 && size > 1
		if n > 0 {
			msgs := make([]outgoing, n)
			for i := range msgs {
				msgs[i] = outgoing{"", bucket, amqp.Publishing{DeliveryMode: amqp.Transient}}
			}
			acked, err := q.publishEach(l, msgs)
			if err != nil {
				q.log.Warn("rate fill let go", "queue", queue, "err", fmt.Errorf("publish to %s: %w", bucket, err))
				return
			}
			for _, ok := range acked {
				if ok {
					earned--
				}
			}
		}
		// A full bucket earns no more: a token earned beyond it would start
		// a job more than the burst as soon as the jobs come.
		earned = min(earned, float64(max(room-n, 0)))
	}
}
