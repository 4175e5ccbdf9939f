package main

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/bench/internal/privatebroker"
	"kiln/bench/internal/procstat"
	"kiln/internal/rabbitnode"
)

// rabbitSystem is Debian's rabbitmq-server, started as a private node by
// kiln/internal/rabbitnode (the tests use the same), and a quorum queue
// used the durable way: persistent messages, publisher confirms, manual
// acks after the (no-op) work, prefetch equal to the consumer concurrency.
// The consumers run in a process of their own, as a deployment's workers
// do (rawconsumer.go). With batch > 1 a submitter publishes batch
// messages and then waits for all their confirms (pipelined confirms);
// otherwise it waits for each message's confirm before it publishes the
// next.
type rabbitSystem struct {
	group    *rabbitnode.Group
	brokerVM int
	conn     *amqp.Connection
	batch    int

	pubs     chan *amqp.Channel // one confirm-mode channel per concurrent publisher
	consumer *rawConsumer
}

const rabbitQueue = "bench"

func newRabbit(dir string, consumers, batch int) (system, error) {
	g, node, err := privatebroker.Start(dir)
	if err != nil {
		return nil, err
	}
	r := &rabbitSystem{group: g, batch: batch}
	if r.brokerVM, err = procstat.BrokerVM(); err != nil {
		g.Close()
		return nil, err
	}
	if r.conn, err = amqp.Dial(node.URL("")); err != nil {
		g.Close()
		return nil, fmt.Errorf("connect to the private broker: %w", err)
	}
	if err := r.setUp(node.URL(""), consumers); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// setUp declares the queue, opens the publishers' channels and starts the
// consumer process on the broker at url.
func (r *rabbitSystem) setUp(url string, consumers int) error {
	ch, err := r.conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel to declare queue %s: %w", rabbitQueue, err)
	}
	if _, err := ch.QueueDeclare(rabbitQueue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		return fmt.Errorf("declare quorum queue: %w", err)
	}
	ch.Close()

	r.pubs = make(chan *amqp.Channel, 64)
	for i := 0; i < 64; i++ {
		pc, err := r.conn.Channel()
		if err != nil {
			return fmt.Errorf("open publisher channel %d: %w", i+1, err)
		}
		if err := pc.Confirm(false); err != nil {
			return fmt.Errorf("put publisher channel %d in confirm mode: %w", i+1, err)
		}
		r.pubs <- pc
	}

	// The consumers, in a process of their own (rawconsumer.go).
	if r.consumer, err = startRawConsumer(url, consumers); err != nil {
		return err
	}
	return nil
}

func (r *rabbitSystem) name() string {
	if r.batch > 1 {
		return "rabbitmq-batch"
	}
	return "rabbitmq"
}

func (r *rabbitSystem) batchSize() int { return r.batch }

func (r *rabbitSystem) servers() servers {
	return servers{brokerVM: r.brokerVM, consumer: r.consumer.pid()}
}

func (r *rabbitSystem) submit(ctx context.Context, payload []byte) error {
	return r.submitBatch(ctx, [][]byte{payload})
}

// submitBatch publishes every payload, then waits for all their confirms.
func (r *rabbitSystem) submitBatch(ctx context.Context, payloads [][]byte) error {
	ch := <-r.pubs
	defer func() { r.pubs <- ch }()
	confs := make([]*amqp.DeferredConfirmation, len(payloads))
	for i, payload := range payloads {
		conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", rabbitQueue, false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: payload,
		})
		if err != nil {
			return err
		}
		confs[i] = conf
	}
	for _, conf := range confs {
		ok, err := conf.WaitContext(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("publish nacked by the broker")
		}
	}
	return nil
}

func (r *rabbitSystem) waitDone(ctx context.Context, n int) error {
	return r.consumer.waitAcked(ctx, n)
}

func (r *rabbitSystem) close() error {
	var err error
	if r.consumer != nil {
		err = r.consumer.close()
	}
	r.conn.Close()
	r.group.Close()
	return err
}
