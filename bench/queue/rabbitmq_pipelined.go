package main

import (
	"context"
	"errors"

	amqp "github.com/rabbitmq/amqp091-go"
)

// rabbitPipelinedSystem is the same broker and queue as rabbitSystem, with
// publishers that do not wait for each confirm: each keeps a window of
// unconfirmed messages in flight and waits only for the oldest when the
// window is full, as a throughput-minded RabbitMQ client does.
type rabbitPipelinedSystem struct {
	*rabbitSystem
}

func newRabbitPipelined(dir string, consumers int) (system, error) {
	r, err := newRabbit(dir, consumers, 1)
	if err != nil {
		return nil, err
	}
	return &rabbitPipelinedSystem{r.(*rabbitSystem)}, nil
}

func (r *rabbitPipelinedSystem) name() string { return "rabbitmq-pipelined" }

func (r *rabbitPipelinedSystem) submitPipelined(ctx context.Context, payload []byte, n, window int) error {
	return publishWindowed(ctx, r.conn, "", rabbitQueue, n, window, func(int) amqp.Publishing {
		return amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: payload}
	})
}

// publishWindowed publishes n messages on a channel of its own, keeping up
// to window of them unconfirmed, and returns once all are confirmed.
func publishWindowed(ctx context.Context, conn *amqp.Connection, exchange, key string, n, window int, msg func(i int) amqp.Publishing) error {
	// A channel of its own: confirms are per channel, in publish order.
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return err
	}
	inFlight := make([]*amqp.DeferredConfirmation, 0, window)
	wait := func(c *amqp.DeferredConfirmation) error {
		ok, err := c.WaitContext(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("publish nacked by the broker")
		}
		return nil
	}
	for i := 0; i < n; i++ {
		if len(inFlight) == window {
			if err := wait(inFlight[0]); err != nil {
				return err
			}
			inFlight = inFlight[1:]
		}
		c, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg(i))
		if err != nil {
			return err
		}
		inFlight = append(inFlight, c)
	}
	for _, c := range inFlight {
		if err := wait(c); err != nil {
			return err
		}
	}
	return nil
}
